"""Child process for test_stroke_route: a canvas in a real X window (xcb on Xvfb) whose GUI
thread stalls on purpose while the parent moves the X pointer; prints the moves that reached it.

argv[1] is "lossless" (the app's route, keep_every_stroke_point) or "qt-default".
"""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from digitpad.app.widgets.canvas import DrawingCanvas, keep_every_stroke_point


class _Recorder(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[int, int]] = []
        self.released = False

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.MouseMove:
            p = event.position()
            self.moves.append((round(p.x()), round(p.y())))
        elif event.type() == QEvent.Type.MouseButtonRelease:
            self.released = True
        return False


def main() -> int:
    if sys.argv[1] == "lossless":
        keep_every_stroke_point()
    app = QApplication(["stroke-route", "-platform", "xcb"])
    canvas = DrawingCanvas()
    canvas.setGeometry(0, 0, 300, 300)
    rec = _Recorder()
    canvas.installEventFilter(rec)
    canvas.show()

    def stall() -> None:
        print("STALL", flush=True)  # the parent moves the pointer now, while we sleep
        time.sleep(0.8)

    def ready() -> None:
        QTimer.singleShot(0, stall)

    def done() -> None:
        if rec.released:
            print(json.dumps({"moves": rec.moves, "ink": int(canvas.to_array().sum() > 0)}),
                  flush=True)
            app.quit()

    QTimer.singleShot(500, ready)
    poll = QTimer()
    poll.timeout.connect(done)
    poll.start(100)
    QTimer.singleShot(8000, app.quit)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
