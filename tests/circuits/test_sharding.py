"""Sharding: every streamed pass of dataset examples, top positions, the pre-ReLU summary,
activation statistics, tuning over exemplars and the featvis statistics gives on 8 forced CPU
devices what it gives on 1 (one subprocess runs all of them)."""

from __future__ import annotations

import numpy as np

from tests.circuits._sharded_passes import passes
from tests.eight_devices import run_on_eight_devices

EXACT = ("top_image", "top_y", "top_x", "best_y", "best_x", "pre_count", "featvis_top_idx")
BINNED = ("pre_counts", "pre_median", "pre_tail_quantile")  # a value on a bin edge may move by one bin


def test_eight_devices_equal_one(tmp_path):
    rng = np.random.default_rng(5)
    data = tmp_path / "data.npz"
    np.savez(data, images=rng.integers(0, 256, (21, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 21))
    one = passes(str(data))
    eight = run_on_eight_devices("tests.circuits._sharded_passes", tmp_path / "eight.npz", data, module=True)
    assert set(eight) == set(one)
    for name, value in one.items():
        if name in BINNED:
            continue
        if name in EXACT:
            np.testing.assert_array_equal(eight[name], value, err_msg=name)
        else:
            np.testing.assert_allclose(eight[name], value, rtol=1e-5, atol=1e-5, err_msg=name)
    # the pre-ReLU quantiles come from counts: equal to within one fine bin either way
    assert np.abs(eight["pre_counts"] - one["pre_counts"]).sum() <= 2
    for name in ("pre_median", "pre_tail_quantile"):
        assert np.all(np.abs(eight[name] - one[name]) <= one["pre_fine_width"] * 1.001), name
