"""A damaged MNIST folder in the Training tab (issue 9): named as damaged, with the Download
offer, instead of being taken for a whole set that then fails in the worker."""

import shutil

import pytest
from PySide6.QtCore import QSettings

from digitpad.app.training.tab import TrainingTab


@pytest.fixture
def tab(qtbot, tmp_path):
    t = TrainingTab(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(t)
    t.show()
    yield t
    t.shutdown(1000)


def test_a_truncated_set_is_shown_as_damaged_with_the_download_offer(tab, tiny_mnist, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_mnist, broken)
    images = broken / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:4000])
    tab.data_edit.setText(str(tiny_mnist))
    assert not tab.data_banner.isVisible()
    tab.data_edit.setText(str(broken))
    assert tab.data_banner.isVisible()
    text = tab.data_banner_label.text()
    assert "damaged" in text and "t10k-images-idx3-ubyte" in text and "Download" in text
    assert not tab._check_data_dir()  # a start is refused before the worker runs
