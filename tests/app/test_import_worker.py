"""My handwriting's import runs in a worker with progress and Cancel, never on the GUI thread."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from digitpad.core.data.samples import SampleStore
from qt_helpers import reread


def zip_of(path, n: int) -> None:
    a = np.zeros((28, 28), np.uint8)
    a[5:23, 12:16] = 255
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n):
            zf.writestr(f"{i % 10}/{i}.png", buf.getvalue())


def test_an_import_runs_behind_a_progress_bar_and_can_be_cancelled(window, qtbot, tmp_path,
                                                                   recorded_dialogs):
    h = window.handwriting_tab
    window.tabs.setCurrentWidget(h)
    zip_of(tmp_path / "many.zip", 3000)
    messages = []
    h.status_message.connect(messages.append)
    assert h.import_samples(str(tmp_path / "many.zip"))
    # the call returned with the import under way: the GUI thread is free meanwhile
    assert h.importer.is_running() and h.importer.isVisible()
    assert not h.import_button.isEnabled()
    qtbot.waitUntil(lambda: h.importer.bar.value() >= 20, timeout=30000)
    assert h.importer.bar.maximum() == 3000
    with qtbot.waitSignal(h.imported, timeout=20000) as got:
        qtbot.mouseClick(h.importer.cancel_button, Qt.MouseButton.LeftButton)
    added = got.args[0]
    assert 20 <= added < 3000
    assert len(SampleStore().list()) == added  # what came in stays, nothing half-written
    assert not h.importer.isVisible() and h.import_button.isEnabled()
    assert "cancelled" in messages[-1]
    qtbot.waitUntil(lambda: h.grid.count() == added, timeout=20000)  # read in the worker


def test_a_damaged_zip_is_one_warning_naming_it(window, qtbot, tmp_path, recorded_dialogs):
    h = window.handwriting_tab
    zip_of(tmp_path / "v.zip", 3)
    blob = bytearray((tmp_path / "v.zip").read_bytes())
    central = blob.index(b"PK\x01\x02")
    blob[central + 6] = 99  # "needs zip version 9.9": NotImplementedError escaped before
    (tmp_path / "v.zip").write_bytes(blob)
    assert h.import_samples(str(tmp_path / "v.zip"))
    qtbot.waitUntil(lambda: not h.importer.is_running(), timeout=10000)
    qtbot.waitUntil(lambda: bool(recorded_dialogs), timeout=5000)
    [(kind, title, text)] = recorded_dialogs
    assert kind == "warning" and "v.zip" in text
    assert h.import_button.isEnabled()


def test_the_grid_shows_the_newest_samples_when_there_are_very_many(window, qtbot, monkeypatch):
    from digitpad.app.handwriting import tab as tab_module

    monkeypatch.setattr(tab_module, "MAX_SHOWN", 5)
    h = window.handwriting_tab
    a = np.zeros((28, 28), np.uint8)
    a[5:23, 12:16] = 255
    store = SampleStore()
    added = [store.add(a, i % 10) for i in range(8)]
    reread(qtbot, h)
    assert h.grid.count() == 5
    shown = {h.grid.item(i).data(Qt.ItemDataRole.UserRole) for i in range(5)}
    assert shown == set(sorted(added, key=lambda s: s.id)[-5:])  # ids sort by age
    assert "(the newest 5 shown)" in h.store_summary.text()
    assert h.filter_buttons[None].text() == "All 8"
