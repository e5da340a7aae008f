"""Planted ground truth: neurons built to be linear, pass-along and nonlinear are measured as built."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import neurons


def planted_fn(parts):
    """u [H, W, 4] (non-negative) -> [H, W, 3]: linear sum, copy of u2, product u0·u1."""
    (u,) = parts
    linear = u[..., 0] + u[..., 1] + u[..., 2] + u[..., 3]
    copy = u[..., 2]
    product = u[..., 0] * u[..., 1]
    return jnp.stack([linear, copy, product], axis=-1)


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    u = np.maximum(rng.normal(size=(64, 6, 6, 4)), 0).astype(np.float32)  # post-ReLU inputs
    level = neurons.make_level("immediate", (u,), (1,), planted_fn)
    outputs = neurons.level_outputs(level)
    positions = neurons.sample_positions(jax.random.key(1), 64, 6, 6, 2000)
    m = neurons.level_measures(
        jax.random.key(2), level, outputs, positions, mlp_hidden=(32, 32), mlp_steps=300,
        n_pcs=4, ksg_samples=600, jacobian_samples=300,
    )
    return level, outputs, positions, m


def test_linearity_fraction_ranks_as_built(planted):
    _, _, _, m = planted
    assert m["r2_lin"][0] > 0.999 and m["r2_lin"][1] > 0.999
    assert m["lf"][0] > 0.99 and m["lf"][1] > 0.99
    assert m["r2_nl"][2] > 0.9  # the MLP can fit the product
    assert m["lf"][2] < 0.9 * min(m["lf"][0], m["lf"][1])


def test_axis_focus_finds_pass_along(planted):
    _, _, _, m = planted
    af = m["axis_focus"]
    assert af[1] == pytest.approx(1.0, abs=1e-6)  # copy of one input
    assert int(m["focus_index"][1]) == 2
    assert af[0] == pytest.approx(0.25, abs=1e-5)  # equal weight on four inputs
    assert 0.4 < af[2] < 0.6 and af[1] > af[2] > af[0]
    assert m["consistency"][0] == pytest.approx(1.0, abs=1e-5)  # globally linear
    assert m["consistency"][2] < 0.9
    assert m["effective_dim"][0] == pytest.approx(1.0, abs=1e-4)  # one gradient direction


def _reference_mixed_entropy(y, bins=400):
    """Large-sample reference: Bernoulli part + fine-histogram differential entropy of ỹ > 0."""
    yt = y / y.std()
    pos = yt[yt > 0]
    p0 = 1 - pos.size / yt.size
    counts, edges = np.histogram(pos, bins=bins)
    p = counts[counts > 0] / pos.size
    h_pos = -np.sum(p * np.log(p)) + np.log(edges[1] - edges[0])
    hb = -(p0 * np.log(p0) + (1 - p0) * np.log(1 - p0)) if 0 < p0 < 1 else 0.0
    return hb + (1 - p0) * h_pos


def test_entropy_ranks_as_built(planted):
    _, _, _, m = planted
    rng = np.random.default_rng(5)
    u = np.maximum(rng.normal(size=(400_000, 4)), 0)
    ref = np.array([
        _reference_mixed_entropy(u.sum(1)),
        _reference_mixed_entropy(u[:, 2]),
        _reference_mixed_entropy(u[:, 0] * u[:, 1]),
    ])
    assert list(np.argsort(m["h_mix"])) == list(np.argsort(ref))
    np.testing.assert_allclose(m["h_mix"], ref, atol=0.08)
    np.testing.assert_allclose(m["p0"], [1 / 16, 1 / 2, 3 / 4], atol=0.04)


def test_planted_roles():
    """Linear sum, copy, product: LF ties at the median 1.0 (both linear neurons), and the
    strict comparisons once called the linear sum "transforming"."""
    labels = neurons.role_labels(lf=[1.0, 1.0, 0.3], h_mix=[1.0, 0.5, 2.0], axis_focus=[0.25, 1.0, 0.5])
    assert labels == ["representational", "representational+pass-along", "transforming"]
    with_ii = neurons.role_labels(lf=[1.0, 1.0, 0.3], h_mix=[1.0, 0.5, 2.0], axis_focus=[0.25, 1.0, 0.5],
                                  ii=[-0.1, -0.3, -0.2])
    assert with_ii == ["representational", "pass-along", "transforming"]  # II below the median


def test_roles_from_the_planted_measures(planted):
    """Measured planted neurons (linear sum, copy, product): neither linear one is transforming, the
    copy is representational and pass-along. (The product's H_mix is the lowest of the three, so the
    hypothesis does not call it transforming; its axis focus 0.51 makes it pass-along.)"""
    _, _, _, m = planted
    labels = neurons.role_labels(m["lf"], m["h_mix"], m["axis_focus"])
    # LF of both linear neurons is 1.0, the median: the strict comparison called the linear sum
    # "transforming" and denied the copy "representational"
    assert "transforming" not in labels[0]
    assert labels[1] == "representational+pass-along"


def test_role_ties_and_nans():
    # every neuron tied: all in the upper LF half and the lower H half, none transforming
    assert neurons.role_labels([0.5] * 3, [1.0] * 3, [0.1] * 3) == ["representational"] * 3
    # a NaN measure gives no role from it, not "transforming"
    labels = neurons.role_labels([np.nan, 0.9, 0.1, 0.5], [1.0, 0.2, 3.0, 1.0], [0.1, 0.1, 0.1, 0.9])
    assert labels == ["unlabelled", "representational", "transforming", "representational+pass-along"]
    with pytest.raises(ValueError, match=r"ii must be \[N\] like lf"):
        neurons.role_labels([1.0, 0.5], [1.0, 2.0], [0.1, 0.1], ii=[1.0])
