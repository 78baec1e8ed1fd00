"""The Help page and `digitpad lesson` show one computation of the lesson's worked examples."""

from __future__ import annotations

import html as html_lib
import json
import re

import numpy as np
import pytest

from digitpad import cli
from digitpad.app.widgets.help_text import how_this_works_html
from digitpad.core.insight import lab


def _text(page: str) -> str:
    """The page's words and numbers in reading order, tags and spacing gone."""
    words = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    return re.sub(r" ([;,.:])", r"\1", words)


def _flat(grid) -> str:
    return " ".join(str(v) for row in grid for v in row)


def _lesson_json(capsys) -> dict:
    assert cli.main(["lesson", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# The lesson's own kernel, and another one: a page that kept its own copy of the example
# would still show [[0,1],[2,3]]'s numbers after the lab's kernel changed.
@pytest.mark.parametrize("kernel", [None, [[1.0, 0.0], [0.0, 2.0]]])
def test_help_page_shows_the_numbers_of_digitpad_lesson(capsys, monkeypatch, kernel):
    if kernel is not None:
        monkeypatch.setattr(lab, "WORKED_KERNEL", np.array(kernel, dtype=np.float32))
    doc = _lesson_json(capsys)
    text = _text(how_this_works_html())
    corr = doc["cross_correlation"]
    assert doc["kernel"] == (kernel or [[0, 1], [2, 3]])
    assert (f"{_flat(doc['image'])} cross-correlated with {_flat(doc['kernel'])} = "
            f"{_flat(corr['output'])}") in text
    assert f"At the top-left position {corr['steps'][0]};" in text
    assert (f"{_flat(doc['image'])} 2×2 max-pool, stride 1 → {_flat(doc['max_pool']['output'])}"
            in text)
    photo = doc["output_sizes"]["7x7 kernel on a 640x480 photo"][-1]
    assert f"640×480 photo: {photo['width']}×{photo['height']}" in text
    _, conv, pool = doc["output_sizes"]["3x3 conv then 2x2 pool on 28x28"]
    assert (f"on 28×28 gives {conv['width']}×{conv['height']} → {pool['width']}×{pool['height']}"
            in text)


def test_the_lessons_numbers_are_the_lessons():
    text = _text(how_this_works_html())
    assert "0 1 2 3 4 5 6 7 8 cross-correlated with 0 1 2 3 = 19 25 37 43" in text
    assert "0·0 + 1·1 + 3·2 + 4·3 = 19" in text
    assert "2×2 max-pool, stride 1 → 4 5 7 8" in text
    assert "640×480 photo: 634×474" in text and "on 28×28 gives 26×26 → 13×13" in text
