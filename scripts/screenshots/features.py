"""Screenshots of Open image, the picture menu, the import worker and the shift test's own
model, taken from the real window under an X server (xvfb-run), whole screen with `import`.

    xvfb-run -s "-screen 0 1400x900x24" python scripts/screenshots/features.py OUT_DIR [SHOT...]
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

OUT = Path(sys.argv[1])
WANT = set(sys.argv[2:])
os.environ.setdefault("DIGITPAD_HOME", tempfile.mkdtemp(prefix="digitpad-shots-"))

from PySide6.QtCore import QPoint  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

app = QApplication(["digitpad"])
from digitpad.app.main_window import MainWindow  # noqa: E402


def settle(seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def shot(window, name: str) -> None:
    settle()
    g = window.frameGeometry()
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(["import", "-window", "root", "-crop", f"{g.width()}x{g.height()}+{g.x()}+{g.y()}",
                    "+repage", "-colors", "256", str(OUT / f"{name}.png")], check=True)
    print("wrote", OUT / f"{name}.png")


def photo(path: Path, digit: str = "4") -> None:
    im = Image.new("RGB", (640, 420), (243, 236, 214))
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=300)
    d.text((400, 210), digit, fill=(28, 40, 150), font=font, anchor="mm", stroke_width=5,
           stroke_fill=(28, 40, 150))
    d.line([(20, 390), (620, 380)], fill=(200, 190, 170), width=2)  # a ruled line on the paper
    im.save(path, quality=90)


def window(theme: str, size=(1280, 820)) -> MainWindow:
    w = MainWindow()
    w.set_theme(theme)
    w.resize(*size)
    w.move(10, 10)
    w.show()
    settle(1.0)
    assert w.draw_tab.select_model("lenet")
    return w


def done(w) -> None:
    w._closing = True
    w.close()
    settle(0.2)


tmp = Path(tempfile.mkdtemp())
for theme in ("light", "dark"):
    if not WANT or "open-image" in WANT:
        w = window(theme)
        photo(tmp / "photo.jpg")
        w.open_image(str(tmp / "photo.jpg"))
        settle(1.0)
        shot(w, f"open-image-{theme}")
        done(w)
    if not WANT or "picture-menu" in WANT:
        w = window(theme)
        photo(tmp / "photo.jpg", "7")
        w.open_image(str(tmp / "photo.jpg"))
        settle(0.8)
        view = w.draw_tab.maps.glw
        w.picture_menus["feature maps"].show_menu(QPoint(view.width() // 3, view.height() // 4))
        shot(w, f"picture-menu-{theme}")
        w.picture_menus["feature maps"].menu.close()
        done(w)
    if not WANT or "import" in WANT:
        w = window(theme)
        h = w.handwriting_tab
        w.tabs.setCurrentWidget(h)
        a = np.zeros((28, 28), np.uint8)
        a[5:23, 12:16] = 255
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        with zipfile.ZipFile(tmp / "many.zip", "w") as zf:
            for i in range(4000):
                zf.writestr(f"{i % 10}/{i}.png", buf.getvalue())
        h.import_samples(str(tmp / "many.zip"))
        while h.importer.bar.value() < 400:
            app.processEvents()
            time.sleep(0.01)
        shot(w, f"import-{theme}")
        h.importer.cancel()
        settle(0.5)
        done(w)
    if not WANT or "shift" in WANT:
        w = window(theme)
        own = w.draw_tab.entries["lenet"].to_checkpoint()
        import torch
        # the shipped weights nudged, so its curve is not hidden under lenet's (its label keeps
        # the shipped file's accuracy: a picture of the feature, not of a model)
        own.state = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
                     for k, v in own.state.items()}
        w._use_trained_model(own).wait()
        photo(tmp / "photo.jpg", "2")
        w.open_image(str(tmp / "photo.jpg"))
        w.draw_tab.inside.toggle.setChecked(True)
        w.draw_tab.inside.pages.setCurrentIndex(2)
        settle(1.5)
        shot(w, f"shift-own-model-{theme}")
        done(w)
    if not WANT or "minimum" in WANT:
        for tab in ("training", "lab", "handwriting"):
            w = window(theme, (830, 568))
            w.tabs.setCurrentWidget(getattr(w, f"{tab}_tab"))
            shot(w, f"minimum-{tab}-{theme}")
            done(w)
