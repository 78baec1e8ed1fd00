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
