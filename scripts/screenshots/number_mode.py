"""Number mode under a real X server: numbers written with xdotool mouse strokes (real X
events through Qt's xcb plugin), read live; whole-window screenshots with `import`.

    xvfb-run -s "-screen 0 1400x900x24" python scripts/screenshots/number_mode.py OUT_DIR

Writes number-{42,2026,phone,photo}-{light,dark}.png at 1280x820 and number-min-{theme}.png
at the minimum size (830x568), and prints what each read and how long the reading took.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(sys.argv[1])
os.environ.setdefault("DIGITPAD_HOME", tempfile.mkdtemp(prefix="digitpad-shots-"))

from PySide6.QtWidgets import QApplication  # noqa: E402

app = QApplication(["digitpad"])
from digitpad.app.main_window import MainWindow  # noqa: E402

# each digit in a 100x180 cell (x right, y down), strokes as point lists
GLYPHS = {
    "0": [[(50, 0), (15, 25), (5, 90), (15, 155), (50, 180), (85, 155), (95, 90), (85, 25), (50, 2)]],
    "1": [[(35, 30), (60, 0), (58, 90), (56, 180)]],
    "2": [[(5, 40), (30, 5), (70, 5), (92, 45), (70, 100), (30, 140), (5, 178), (50, 178), (98, 178)]],
    "3": [[(8, 20), (50, 0), (88, 30), (50, 85), (92, 125), (50, 180), (5, 160)]],
    "4": [[(60, 0), (30, 70), (2, 125), (50, 125), (98, 125)], [(75, 50), (75, 120), (75, 180)]],
    "5": [[(85, 2), (20, 2), (12, 80), (60, 70), (95, 120), (60, 178), (5, 165)]],
    "6": [[(80, 5), (30, 50), (8, 120), (40, 178), (85, 150), (70, 100), (15, 115)]],
    "7": [[(5, 5), (50, 5), (95, 5), (70, 70), (50, 120), (35, 178)]],
    "8": [[(85, 25), (50, 0), (15, 25), (50, 85), (90, 135), (50, 180), (10, 135), (50, 85), (85, 25)]],
    "9": [[(88, 40), (50, 5), (12, 35), (30, 85), (88, 50), (80, 120), (60, 178)]],
}


def settle(seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def xdo(*args) -> None:
    subprocess.run(["xdotool", *map(str, args)], check=True)


def write(w, text: str, scale: float = 1.0) -> None:
    """Write ``text`` on the strip with the mouse: real X button and motion events."""
    c = w.draw_tab.number.canvas
    n = len(text)
    cell = min(150.0, (c.canvas_size - 60) / n) * scale
    h = 180 * min(1.0, cell / 130) * scale
    x0 = (c.canvas_size - cell * n) / 2
    y0 = (c.canvas_height - h) / 2
    for i, ch in enumerate(text):
        for stroke in GLYPHS[ch]:
            pts = []
            for (ax, ay), (bx, by) in zip(stroke, stroke[1:]):
                for t in (0, 0.25, 0.5, 0.75):
                    pts.append((ax + (bx - ax) * t, ay + (by - ay) * t))
            pts.append(stroke[-1])
            g = [c.mapToGlobal(c.to_widget(x0 + i * cell + 0.15 * cell + x * cell * 0.7 / 100,
                                           y0 + y * h / 180).toPoint()) for x, y in pts]
            xdo("mousemove", g[0].x(), g[0].y())
            xdo("mousedown", 1)
            for p in g[1:]:
                xdo("mousemove", p.x(), p.y())
                settle(0.005)
            xdo("mouseup", 1)
            settle(0.05)
    settle(0.6)


def shot(w, name: str) -> None:
    settle(0.5)
    g = w.frameGeometry()
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(["import", "-window", "root", "-crop", f"{g.width()}x{g.height()}+{g.x()}+{g.y()}",
                    "+repage", "-colors", "256", str(OUT / f"{name}.png")], check=True)
    r = w.draw_tab.number.state.reading
    print(f"{name}: read {r.number if r else None!r} ({r.status if r else '-'}) "
          f"{w.draw_tab.number.last_read_ms:.1f} ms; wrote {OUT / (name + '.png')}")


def window(theme: str, size=(1280, 820)) -> MainWindow:
    w = MainWindow()
    w.set_theme(theme)
    w.resize(*size)
    w.move(0, 0)
    w.show()
    settle(1.0)
    while w.draw_tab.current_entry() is None:
        settle(0.2)
    w.draw_tab.set_number_mode(True)
    settle(0.3)
    return w


def photo(path: Path, text: str) -> None:
    im = Image.new("RGB", (900, 300), (243, 236, 214))
    d = ImageDraw.Draw(im)
    d.text((450, 150), text, fill=(28, 40, 150), font=ImageFont.load_default(size=200),
           anchor="mm", stroke_width=4, stroke_fill=(28, 40, 150))
    im.save(path, quality=90)


tmp = Path(tempfile.mkdtemp())
for theme in ("light", "dark"):
    for name, text in (("42", "42"), ("2026", "2026"), ("phone", "5550123")):
        w = window(theme)
        write(w, text)
        if name == "2026":
            w.draw_tab.number.steps_box.setChecked(True)
        shot(w, f"number-{name}-{theme}")
        w._closing = True
        w.close()
    w = window(theme)
    photo(tmp / "number.jpg", "1007")
    w.open_image(str(tmp / "number.jpg"))
    settle(1.5)
    shot(w, f"number-photo-{theme}")
    w._closing = True
    w.close()
    w = window(theme, (830, 568))
    write(w, "2026")
    shot(w, f"number-min-{theme}")
    w._closing = True
    w.close()
