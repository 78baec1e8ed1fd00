"""NumberState without Qt: selection rules and texts, on readings built by hand."""

from __future__ import annotations

import numpy as np
import pytest

from digitpad.app.draw.number_state import EMPTY_TEXT, NumberState
from digitpad.core.reading.number import DigitRead, NumberReading


def digit(d, box, conf=0.99, unsure=False, alt=None):
    p = np.full(10, (1 - conf) / 9, np.float32)
    p[d] = conf
    return DigitRead(box, None, p, d, conf, unsure, alt)


def reading(*digits, status="number"):
    ds = list(digits)
    conf = float(np.prod([d.confidence for d in ds])) if ds else 0.0
    return NumberReading(status, ds, "".join(str(d.digit) for d in ds), conf)


def test_mode_and_bad_mode():
    s = NumberState()
    assert not s.active and s.set_mode("number") and s.active and not s.set_mode("number")
    with pytest.raises(ValueError):
        s.set_mode("letters")


def test_new_reading_selects_the_digit_under_the_newest_stroke():
    s = NumberState()
    r = reading(digit(4, (10, 10, 60, 90)), digit(2, (100, 10, 150, 90)))
    s.set_reading(r, last_at=(20, 30))
    assert s.selected == 0
    s.set_reading(r)  # no stroke known: the rightmost
    assert s.selected == 1
    assert s.hit(120, 50) == 1 and s.hit(80, 50) is None


def test_a_chosen_digit_stays_until_the_count_changes():
    s = NumberState()
    two = reading(digit(4, (10, 10, 60, 90)), digit(2, (100, 10, 150, 90)))
    s.set_reading(two, last_at=(120, 50))
    assert s.select(0) and s.selected == 0
    s.set_reading(two, last_at=(120, 50))  # a stroke that changed a digit, not the count
    assert s.selected == 0
    three = reading(*two.digits, digit(7, (200, 10, 250, 90)))
    s.set_reading(three, last_at=(210, 20))
    assert s.selected == 2
    assert s.step(-1) and s.selected == 1 and s.step(-5) and s.selected == 0
    assert not s.select(9)
    s.set_reading(NumberReading("empty"))
    assert s.selected is None and not s.step(1) and s.number_text() == EMPTY_TEXT


def test_texts_unsure_and_not_a_number():
    s = NumberState()
    assert s.number_text() == EMPTY_TEXT and s.confidence_text() == ""
    s.set_reading(reading(digit(2, (0, 0, 5, 5)), digit(0, (6, 0, 9, 5), 0.5, True, 1)))
    assert s.number_text() == "2 0 or 1?"
    assert "unsure" in s.confidence_text()
    assert s.caption(s.digits[1]) == "0 or 1? · 50 %"
    s.set_reading(NumberReading("not a number", reason="a scribble"))
    assert s.number_text() == "Not a number" and s.confidence_text() == "a scribble"
