"""The number reader's fast paths against plain references: what was made faster reads the
same (scripts/bench_numbers.py measures how much faster)."""

import numpy as np
import pytest

from digitpad.core.reading.number_pieces import components


@pytest.mark.parametrize("density", [0.35, 0.9])
def test_component_labels_are_runs_of_one_label_each(density):
    """Runs that end at a row's last column beside the next row's first start (the case the
    label image's two scatters must add up right): dense masks hold many."""
    rng = np.random.default_rng(int(density * 100))
    mask = rng.random((30, 17)) < density
    mask[:, -1] = mask[:, 0] = True
    comps = components(mask)
    assert not comps.labels[~mask].any() and comps.labels[mask].all()
    assert comps.areas.sum() == mask.sum()
    # a run is one label: neighbours along a row in ink agree
    both = mask[:, 1:] & mask[:, :-1]
    assert (comps.labels[:, 1:][both] == comps.labels[:, :-1][both]).all()
    for k in range(len(comps)):
        assert np.count_nonzero(comps.labels == k + 1) == comps.areas[k]


def _thin_places_by_loop(sm, top, bottom, edge, r, min_dip):
    """thin_places as it was first written: a window per column."""
    w = len(sm)
    cand = sorted((sm[x], x) for x in range(edge, w - edge) if sm[x] <= sm[max(0, x - r):x + r + 1].min() + 1e-9)
    valleys = []
    for x in range(edge, w - edge):
        win = slice(max(0, x - 2 * r), x + 2 * r + 1)
        dip = min(top[x] - top[win].min(), bottom[win].max() - bottom[x])
        if top[x] >= top[win].max() and bottom[x] <= bottom[win].min() and dip > min_dip:
            valleys.append((-dip, x))
    return cand, sorted(valleys)


@pytest.mark.parametrize("seed", range(6))
def test_thin_places_equal_the_loop_over_columns(seed):
    from digitpad.core.reading.number_cuts import thin_places

    rng = np.random.default_rng(seed)
    w = int(rng.integers(1, 90))
    prof = rng.integers(0, 6, w).astype(float)  # ties included: integer projections
    sm = np.convolve(prof, np.ones(3) / 3, mode="same")
    top = rng.integers(0, 12, w).astype(np.int64)
    bottom = top + rng.integers(0, 30, w)
    edge, r = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    got = thin_places(sm, top, bottom, edge, r, 1.5)
    want = _thin_places_by_loop(sm, top, bottom, edge, r, 1.5)
    assert got == want
    assert seed or want[0]  # the cases hold candidates
