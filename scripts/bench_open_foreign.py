"""Issue 25's goal: opening a foreign model, off the GUI thread, takes <= 300 ms to the first
prediction. Opens the lesson's NeuralNetwork saved as a state dict and an ONNX export in the
app (offscreen), first time (its input convention scored on 300 MNIST test images, or
synthesised digits) and again (the convention remembered by content hash), and prints each
open's time from the request to the first prediction drawn with it.

    QT_QPA_PLATFORM=offscreen nice -n 19 python scripts/bench_open_foreign.py [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="digitpad-bench-")
    os.environ["DIGITPAD_HOME"] = home
    os.environ["DIGITPAD_DATA"] = args.data
    import numpy as np
    import torch
    from PySide6.QtWidgets import QApplication

    from lesson_network import NeuralNetwork
    from digitpad.app.main_window import MainWindow
    from digitpad.app.settings import make_settings

    app = QApplication.instance() or QApplication([])
    torch.manual_seed(0)
    files = {}
    net = NeuralNetwork().eval()
    files["state dict"] = Path(home) / "model.pth"
    torch.save(net.state_dict(), files["state dict"])
    files["onnx"] = Path(home) / "model.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), str(files["onnx"]), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    w = MainWindow(settings=make_settings(), defer_load=False)
    w.show()
    drawing = np.zeros((280, 280), np.uint8)
    drawing[60:220, 130:150] = 255
    for kind, path in files.items():
        for i in range(args.repeats):
            w.draw_tab.select_model("lenet")
            app.processEvents()
            t0 = time.perf_counter()
            job = w.open_model(str(path))
            assert job.wait(), job.error
            pred = w.draw_tab.current_entry().predictor.predict(drawing)
            ms = (time.perf_counter() - t0) * 1000
            how = "first open (input scored)" if i == 0 else "again (input remembered)"
            print(f"{kind:<10} {how:<27} {ms:7.0f} ms to the first prediction "
                  f"(input {pred and w.draw_tab.current_entry().predictor.meta.get('input')})")
    w._closing = True
    w.close()


if __name__ == "__main__":
    main()
