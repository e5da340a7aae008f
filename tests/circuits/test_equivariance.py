"""Equivariance measures (METHODS §6.6) on planted families, against numpy and shuffles."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxinterp import circuits


def numpy_binned_fit(w, phi, theta, bin_deg):
    n_bins = int(360 / bin_deg)
    rel = np.mod(theta[None, :] - phi[:, None], 360.0)
    b = np.mod(np.floor(rel / bin_deg + 0.5), n_bins).astype(int)
    pred = np.zeros_like(w)
    g = np.zeros(n_bins)
    for k in range(n_bins):
        if (b == k).any():
            g[k] = w[b == k].mean()
            pred[b == k] = g[k]
    return 1 - ((w - pred) ** 2).sum() / ((w - w.mean()) ** 2).sum(), g


def test_binned_fit_recovers_a_planted_g_and_matches_numpy(rng):
    phi, theta = rng.uniform(0, 360, 16), rng.uniform(0, 360, 12)
    planted = rng.normal(size=24)
    rel = np.mod(theta[None] - phi[:, None], 360.0)
    w = planted[np.mod(np.floor(rel / 15 + 0.5), 24).astype(int)]
    fit = circuits.binned_fit(w, phi, theta)
    assert float(fit["r2"]) == pytest.approx(1.0, abs=1e-5)
    filled = np.asarray(fit["counts"]) > 0
    np.testing.assert_allclose(np.asarray(fit["g"])[filled], planted[filled], atol=1e-5)
    # a smooth g (aligned excites, opposed inhibits) is fitted almost as well
    smooth = np.cos(np.deg2rad(rel)) + 0.05 * rng.normal(size=rel.shape)
    assert float(circuits.binned_fit(smooth, phi, theta)["r2"]) > 0.9
    noise = rng.normal(size=w.shape)
    r2, g = numpy_binned_fit(noise, phi, theta, 15)
    fit = circuits.binned_fit(noise, phi, theta)
    assert float(fit["r2"]) == pytest.approx(r2, abs=1e-5)
    np.testing.assert_allclose(fit["g"], g, atol=1e-5)
    # vmappable over stacks of weight matrices
    both = jax.vmap(lambda m: circuits.equivariance._binned_fit(m, phi, theta, 24)["r2"])(np.stack([w, noise]))
    np.testing.assert_allclose(both, [1.0, r2], atol=1e-5)


def test_shuffled_weights_give_a_low_r2(rng):
    phi, theta = rng.uniform(0, 360, 16), rng.uniform(0, 360, 12)
    w = np.cos(np.deg2rad(theta[None] - phi[:, None]))
    shuffled = rng.permutation(w.ravel()).reshape(w.shape)
    assert float(circuits.binned_fit(w, phi, theta)["r2"]) > 0.95
    assert float(circuits.binned_fit(shuffled, phi, theta)["r2"]) < 0.35


def test_binned_fit_refuses_bad_shapes_and_bins():
    with pytest.raises(ValueError, match=r"w \[U_up, U_down\], phi \[U_up\]"):
        circuits.binned_fit(np.zeros((3, 4)), np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="must divide 360"):
        circuits.binned_fit(np.zeros((3, 4)), np.zeros(3), np.zeros(4), bin_deg=7)


def test_rotate_map_turns_counter_clockwise_on_screen():
    m = np.zeros((5, 5), np.float32)
    m[2, 4] = 1.0  # right of the centre
    up = np.asarray(circuits.rotate_map(m, 90.0))
    assert up[0, 2] == pytest.approx(1.0, abs=1e-5) and up.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(circuits.rotate_map(m, 360.0), m, atol=1e-5)


def planted_family(k=9, angles=np.arange(8) * 45.0):
    """W[j, :, :, i]: an oriented Gabor-like map whose shape depends only on θ_j − φ_i,
    turned by θ_j: exactly the rotated copies an equivariant circuit has."""
    r = (k - 1) / 2
    row, col = np.mgrid[:k, :k].astype(np.float64)
    x, y = col - r, r - row  # screen coordinates, y up
    n = len(angles)
    w = np.zeros((n, k, k, n))
    for j, t in enumerate(angles):
        c, s = np.cos(np.deg2rad(t)), np.sin(np.deg2rad(t))
        u, v = c * x + s * y, -s * x + c * y  # coordinates in the target's frame
        for i, p in enumerate(angles):
            rel = np.deg2rad(np.mod(t - p, 360.0))
            u0, v0 = 2.0 * np.cos(rel / 2), 2.0 * np.sin(rel / 2)  # where and how, by relative angle
            a = np.cos(rel) * u + np.sin(rel) * v
            w[j, :, :, i] = np.exp(-((u - u0) ** 2 + (v - v0) ** 2) / 4.0) * np.cos(1.2 * a + rel)
    return w.astype(np.float32), angles, angles


def test_rotated_weights_correlation_high_for_a_rotated_family_low_when_shuffled(rng):
    w, phi, theta = planted_family()
    out = circuits.rotated_weights_correlation(w, phi, theta)
    assert out["pairs"].shape[1] == 4 and len(out["correlations"]) == len(out["pairs"]) > 100
    assert float(out["score"]) > 0.9
    # every pair has the same relative orientation, and Δ is the targets' difference
    p = out["pairs"]
    rel = np.mod(theta[p[:, 0]] - phi[p[:, 1]] - (theta[p[:, 2]] - phi[p[:, 3]]), 360.0)
    assert np.all(np.minimum(rel, 360 - rel) < 7.5)
    np.testing.assert_allclose(out["delta"], theta[p[:, 2]] - theta[p[:, 0]])
    # the same maps assigned to connections at random
    maps = w.transpose(0, 3, 1, 2).reshape(-1, 9, 9)[rng.permutation(64)]
    shuffled = maps.reshape(8, 8, 9, 9).transpose(0, 2, 3, 1)
    low = circuits.rotated_weights_correlation(shuffled, phi, theta)
    assert float(low["score"]) < 0.3
    # with fewer pairs allowed than match, a sample of them
    some = circuits.rotated_weights_correlation(w, phi, theta, max_pairs=50, key=jax.random.key(1))
    assert len(some["correlations"]) == 50 and float(some["score"]) > 0.9


def test_rotated_weights_correlation_one_pair_against_numpy():
    w, phi, theta = planted_family(k=7, angles=np.array([0.0, 90.0]))
    out = circuits.rotated_weights_correlation(w, phi, theta)
    mask = np.hypot(*(np.mgrid[:7, :7] - 3.0)) <= 3 + 1e-6
    for (j, i, j2, i2), d, c in zip(out["pairs"], out["delta"], out["correlations"]):
        a = np.rot90(w[j, :, :, i], k=int(round(d / 90)) % 4)  # np.rot90 turns counter-clockwise
        b = w[j2, :, :, i2]
        assert float(c) == pytest.approx(np.corrcoef(a[mask], b[mask])[0, 1], abs=1e-4)


def test_rotated_weights_correlation_refuses_bad_input():
    with pytest.raises(ValueError, match=r"\[N_t, k, k, C_s\]"):
        circuits.rotated_weights_correlation(np.zeros((2, 3, 4, 2)), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"phi must be \[C_s\] = \[2\]"):
        circuits.rotated_weights_correlation(np.zeros((3, 5, 5, 2)), np.zeros(3), np.zeros(3))


def test_families_cluster_rotated_copies_and_align_peaks(rng):
    angles = np.arange(72) * 5.0
    shifts = rng.choice(72, size=12, replace=False)
    one_bump = np.exp(-0.5 * (np.minimum(angles, 360 - angles) / 20.0) ** 2)
    two_bumps = one_bump + np.roll(one_bump, 36)  # a unit tuned to both directions of a line
    curves = np.stack([np.roll(one_bump if u < 6 else 0.8 * two_bumps, s) for u, s in enumerate(shifts)])
    labels = np.asarray(circuits.families(curves, 2))
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6]
    aligned, shift_deg = circuits.align_peaks(curves)
    np.testing.assert_allclose(np.asarray(aligned)[:6], np.tile(one_bump, (6, 1)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(shift_deg)[:6], shifts[:6] * 5.0)
    with pytest.raises(ValueError, match="k=13 families for 12 units"):
        circuits.families(curves, 13)
    with pytest.raises(ValueError, match=r"\[U, A\]"):
        circuits.families(curves[0], 1)
