"""``universality.compare`` on planted data: the right layer pairs, the right units, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp.universality import compare, default_layers


def _planted(rng, n=60):
    z = rng.standard_normal((n, 8)).astype(np.float32)
    a = {"early": np.maximum(z[:, :6], 0), "late": z[:, 2:] @ rng.standard_normal((6, 10)).astype(np.float32)}
    perm = rng.permutation(6)
    b = {"b_late": a["late"][:, :4] + 0.1 * rng.standard_normal((n, 4)).astype(np.float32),  # 4 < 10 units
         "b_early": a["early"][:, perm] * 2 + 0.05 * rng.standard_normal((n, 6)).astype(np.float32)}
    return a, b, perm


def test_compare_pairs_layers_and_units_as_planted(rng):
    a, b, perm = _planted(rng)
    images = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    arrays, summary = compare(a, b, images, m=3, top_pairs=8, k=5)
    assert [p["partner"] for p in summary["per_layer"]] == ["b_early", "b_late"]
    np.testing.assert_array_equal(arrays["L0_hungarian_partner"], np.argsort(perm))
    assert arrays["L0_mutual"].all()
    # 10 units of A against 4 of B: only 4 are assigned, and only assigned pairs are shown
    assert (arrays["L1_hungarian_partner"] >= 0).sum() == 4
    shown = arrays["L1_shown"]
    assert len(shown) == 4 and np.all(arrays["L1_hungarian_partner"][shown[:, 0]] == shown[:, 1])
    assert set(arrays["thumb_index"]) >= set(arrays["L0_top_a"][arrays["L0_shown"][:, 0]].ravel())
    null = summary["per_layer"][0]["null_best_corr"]["median"]
    assert summary["per_layer"][0]["best_match_corr"]["median"] > 0.9 > 0.5 > null


def test_default_layers():
    names = ["input", "conv1", "bn1", "layer1.0.conv1", "layer1.0", "layer1", "layer2.0", "linear", "logits"]
    assert default_layers(names) == ["bn1", "layer1.0", "layer2.0", "linear"]
    assert default_layers(["input", "features.0", "features.3", "logits"]) == ["features.0", "features.3"]


def test_compare_refuses_mismatched_images(rng):
    a, b, _ = _planted(rng)
    images = rng.integers(0, 256, (59, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="acts_a covers 60 images but the image array covers 59"):
        compare(a, b, images)
    with pytest.raises(ValueError, match="acts_a covers 60 images but acts_b covers 30"):
        compare(a, {k: v[:30] for k, v in b.items()}, images[:30])
