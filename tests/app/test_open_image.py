"""File > Open image… and drag-and-drop: a digit from a file, read the way `digitpad predict`
reads it, onto the canvas, then read by the network and kept as a sample like a drawing."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from digitpad.core.data.preprocess import load_image, preprocess
from digitpad.core.data.samples import SampleStore


def photo_of(digit: int, path, size=(520, 300), ink=(20, 30, 160), paper=(245, 240, 225)) -> None:
    """A wide colour 'photo': dark blue ink on cream paper, digit off centre."""
    im = Image.new("RGB", size, paper)
    font = ImageFont.load_default(size=int(min(size) * 0.7))
    ImageDraw.Draw(im).text((size[0] * 0.6, size[1] / 2), str(digit), fill=ink, font=font,
                            anchor="mm", stroke_width=max(2, min(size) // 50), stroke_fill=ink)
    im.save(path)


def drop(widget, path) -> None:
    """What a drag from a file manager delivers: DragEnter (accepted), then Drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    centre = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    assert event.isAccepted()


def network_input(window, qtbot):
    tab = window.draw_tab
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty,
                    timeout=10000)
    return tab.last_prediction


def test_open_image_reads_a_photo_like_predict_does(lenet_window, qtbot, tmp_path):
    w = lenet_window
    photo_of(3, tmp_path / "three.jpg")
    assert w.open_image(str(tmp_path / "three.jpg"))
    canvas = w.draw_tab.canvas.to_array()
    assert canvas.shape == (280, 280) and canvas.max() > 100  # ink bright, as drawn
    assert canvas[0, 0] == 0 and canvas[-1, -1] == 0  # the cream paper became the canvas's black
    seen = network_input(w, qtbot)
    cli = preprocess(load_image(tmp_path / "three.jpg"))  # what `digitpad predict` feeds
    corr = np.corrcoef(seen.image.ravel(), cli.image.ravel())[0, 1]
    assert corr > 0.9
    pred = w.draw_tab.current_entry().predictor
    assert seen.digit == pred.predict(cli).digit
    # and it is kept like a drawing: the 0-9 correction stores the canvas
    assert w.draw_tab.corrections.keep_as(3)
    qtbot.waitUntil(lambda: w.draw_tab.corrections.writes.pending == 0)  # in the worker
    [sample] = SampleStore().list(3)
    assert np.array_equal(SampleStore().read(sample), canvas)


def test_dropping_a_file_or_a_folder_puts_it_on_the_canvas(lenet_window, qtbot, tmp_path):
    w = lenet_window
    canvas = w.draw_tab.canvas
    photo_of(7, tmp_path / "seven.png", size=(90, 140), ink=(0, 0, 0), paper=(255, 255, 255))
    drop(canvas, tmp_path / "seven.png")
    assert not canvas.is_empty()
    first = canvas.to_array()
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    photo_of(1, folder / "b.png")
    photo_of(4, folder / "a.png")  # the first by name
    drop(canvas, folder)
    assert not np.array_equal(canvas.to_array(), first)
    canvas.undo()  # one undo step per image
    assert np.array_equal(canvas.to_array(), first)


def test_a_file_that_is_not_an_image_leaves_the_drawing(lenet_window, qtbot, tmp_path,
                                                        recorded_dialogs, stroke):
    from qt_helpers import SEVEN

    w = lenet_window
    stroke(w.draw_tab.canvas, SEVEN)
    before = w.draw_tab.canvas.to_array()
    (tmp_path / "fake.png").write_bytes(b"this is text")
    drop(w.draw_tab.canvas, tmp_path / "fake.png")
    assert np.array_equal(w.draw_tab.canvas.to_array(), before)
    [(kind, _title, text)] = recorded_dialogs
    assert kind == "warning" and "fake.png" in text and "\n" not in text


def test_a_drag_without_files_is_refused(window):
    mime = QMimeData()
    mime.setText("7")
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    enter.ignore()
    QApplication.sendEvent(window.draw_tab.canvas, enter)
    assert not enter.isAccepted()


def test_the_menu_has_open_image(window):
    assert window.open_image_action.text() == "Open &image…"
    assert window.open_image_action.shortcut().toString() == "Ctrl+Shift+O"
