"""All layer pairs in one call: equal to a loop of single-pair CKA, exact for any chunk size."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.universality import (
    LinearCKAStats,
    LinearPlan,
    cka_all_pairs,
    linear_cka,
    linear_init,
    linear_plan,
    linear_result,
    linear_update,
    rbf_cka,
    stack,
)
from tests.universality import _refs


def _loop(a, b, kernel, unbiased):
    gram = _refs.gram_linear if kernel == "linear" else _refs.gram_rbf
    return np.array([[_refs.cka(gram(x.astype(float)), gram(y.astype(float)), unbiased) for y in b.values()]
                     for x in a.values()])


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("unbiased", [True, False])
def test_all_pairs_equals_a_loop_over_pairs(rng, kernel, unbiased):
    a, b = _refs.layers(rng)
    got = np.asarray(cka_all_pairs(a, b, kernel, unbiased, block=7))
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, _loop(a, b, kernel, unbiased), atol=3e-5)
    single = linear_cka if kernel == "linear" else rbf_cka
    assert float(single(a["a1"], b["b2"], unbiased=unbiased)) == pytest.approx(got[1, 2], abs=3e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 40, 4096])
def test_minibatch_linear_cka_equals_full_cka(rng, batch_size):
    a, b = _refs.layers(rng)
    full = _loop(a, b, "linear", True)
    np.testing.assert_allclose(np.asarray(cka_all_pairs(a, b, batch_size=batch_size)), full, atol=3e-5)


@pytest.mark.parametrize("block", [1, 6, 40])
def test_rbf_row_blocks_do_not_change_the_result(rng, block):
    a, b = _refs.layers(rng)
    np.testing.assert_allclose(np.asarray(cka_all_pairs(a, b, "rbf", block=block)),
                               _loop(a, b, "rbf", True), atol=3e-5)


def test_streams_from_memmaps_and_large_offsets(rng, tmp_path):
    a, b = _refs.layers(rng, n=50)
    a = {k: v + 300.0 for k, v in a.items()}  # ReLU-like large means: the shift keeps float32 accurate
    maps = {}
    for k, v in a.items():
        mm = np.lib.format.open_memmap(tmp_path / f"{k}.npy", mode="w+", dtype=np.float32, shape=v.shape)
        mm[:] = v
        maps[k] = np.load(tmp_path / f"{k}.npy", mmap_mode="r")
    got = np.asarray(cka_all_pairs(maps, b, batch_size=16))
    np.testing.assert_allclose(got, _loop(a, b, "linear", True), atol=1e-4)


def test_update_by_hand_is_the_streaming_api(rng):
    a, b = _refs.layers(rng)
    plan = linear_plan(a, b)
    assert plan == LinearPlan(tuple(v.shape[1] for v in a.values()), tuple(v.shape[1] for v in b.values()))
    stats = linear_init(plan)  # no shift: the raw sums, also exact
    assert isinstance(stats, LinearCKAStats) and not np.asarray(stats.moments).any()
    xa, xb = stack.concatenate(a), stack.concatenate(b)
    for s in range(0, 40, 10):
        stats = linear_update(stats, plan, jnp.asarray(xa[s:s + 10]), jnp.asarray(xb[s:s + 10]),
                              jnp.ones(10, bool))
    assert float(stats.moments[-1, -1]) == 40
    cka, h, ha, hb = linear_result(stats, plan)
    np.testing.assert_allclose(np.asarray(cka), _loop(a, b, "linear", True), atol=3e-5)
    x0, y1 = a["a0"].astype(float), b["b1"].astype(float)
    assert float(h[0, 1]) == pytest.approx(_refs.hsic_unbiased(x0 @ x0.T, y1 @ y1.T), rel=1e-3)


def test_bad_input_is_refused(rng):
    a, b = _refs.layers(rng)
    with pytest.raises(ValueError, match="acts_a covers 40 images but acts_b covers 39"):
        cka_all_pairs(a, {k: v[:39] for k, v in b.items()})
    with pytest.raises(ValueError, match="different numbers of images"):
        cka_all_pairs(a, {"b0": b["b0"], "b1": b["b1"][:30]})
    with pytest.raises(ValueError, match="kernel must be one of"):
        cka_all_pairs(a, b, kernel="cosine")
    with pytest.raises(ValueError, match="non-empty dict"):
        cka_all_pairs({}, b)
    with pytest.raises(ValueError, match=r"acts_b\['b0'\] must be a 2-D"):
        cka_all_pairs(a, {"b0": b["b0"][:, 0]})
    bad = dict(b, b2=np.full_like(b["b2"], np.nan))
    with pytest.raises(ValueError, match="NaN"):
        cka_all_pairs(a, bad)
