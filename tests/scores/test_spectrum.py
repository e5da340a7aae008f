"""Power-law spectrum: the exponent of data with a planted power law, in every mode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import scores
from jaxinterp.scores.spectrum import (
    augment,
    critical_exponent,
    fit_ols,
    fit_stringer,
    power_law_break,
    spectrum,
)


def planted(rng, n, d, alpha):
    """[n, d] data whose covariance eigenvalues are k^-alpha along a random basis."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scale = np.arange(1, d + 1) ** (-alpha / 2)
    return (rng.standard_normal((n, d)) * scale) @ q.T


def test_fits_on_exact_power_law():
    k = np.arange(1, 601.0)
    ss = k**-1.3
    assert fit_stringer(ss / ss.sum())[0] == pytest.approx(1.3, abs=1e-9)
    assert fit_ols(ss)[0] == pytest.approx(1.3, abs=1e-9)


@pytest.mark.parametrize("mode", ["split", "augment"])
def test_recovers_planted_exponent(rng, key, mode):
    x = planted(rng, 4000, 64, 1.5).astype(np.float32)
    repeat = None
    if mode == "augment":
        repeat = x + 0.05 * rng.standard_normal(x.shape).astype(np.float32) * x.std(0)
    ss = np.asarray(spectrum(key, x, mode, acts_repeat=repeat))
    assert ss.sum() == pytest.approx(1.0, rel=1e-4)
    alpha, _ = fit_ols(ss, 0.05, 0.5)
    assert alpha == pytest.approx(1.5, abs=0.15)


def test_noncv_on_axis_aligned_power_law(rng, key):
    """noncv z-scores each neuron (the seed code), so its spectrum is that of the correlation
    matrix: plant the power law there and compare with the exact eigenvalues."""
    d, alpha = 64, 1.2
    lam = np.arange(1, d + 1.0) ** -alpha
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    cov = (q * lam) @ q.T
    s = 1 / np.sqrt(np.diag(cov))
    corr = cov * s[:, None] * s[None]
    x = rng.multivariate_normal(np.zeros(d), corr, 20000).astype(np.float32)
    ss = np.asarray(spectrum(key, x, "noncv"))
    ev = np.sort(np.linalg.eigvalsh(corr))[::-1]
    np.testing.assert_allclose(ss[:10], (ev / ev.sum())[:10], rtol=0.15)


def test_errors_and_augment(rng, key):
    with pytest.raises(ValueError, match="acts_repeat"):
        spectrum(key, np.zeros((10, 4)), "augment")
    with pytest.raises(ValueError, match="mode must be one of"):
        spectrum(key, np.zeros((10, 4)), "cv")
    with pytest.raises(ValueError, match="fit_ols"):
        fit_stringer(np.ones(10))
    assert critical_exponent(3072) == pytest.approx(1 + 2 / 3072)


def test_augment_is_a_random_padded_crop_and_flip(rng, key):
    """Each output is one of the (2·pad+1)² zero-padded crops of its image, flipped or not
    (numpy reference), and the draws vary: an identity augment fails here."""
    n, pad = 32, 2
    imgs = rng.random((n, 8, 8, 3)).astype(np.float32) + 0.1  # no zero pixels: padding shows
    out = np.asarray(augment(key, jnp.asarray(imgs), pad=pad))
    assert out.shape == imgs.shape
    draws = []
    for img, got in zip(imgs, out):
        padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)))
        found = [(dy, dx, flip) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1) for flip in (0, 1)
                 if np.array_equal(got, (lambda c: c[:, ::-1] if flip else c)(padded[dy:dy + 8, dx:dx + 8]))]
        assert found, "an output is not a padded crop (flipped or not) of its image"
        draws.append(found[0])
    offsets = {(dy, dx) for dy, dx, _ in draws}
    assert len(offsets) >= 5 and {f for *_, f in draws} == {0, 1}
    assert sum(d != (pad, pad, 0) for d in draws) >= n // 2  # mostly not the identity
    # independent keys give independent augmentations
    assert not np.array_equal(out, np.asarray(augment(jax.random.split(key)[0], jnp.asarray(imgs), pad=pad)))


def broken_law(ranks, bend=10, before=1.0, after=3.0):
    """rank^-before up to ``bend``, then continuing with rank^-after (continuous)."""
    return np.where(ranks <= bend, ranks ** -before, bend ** -before * (ranks / bend) ** -after)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_clean_power_law_is_not_flagged(seed):
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, 65.0)  # 64 neurons, as ResNet-56 layer3: the fit spans ranks 5..32
    check = power_law_break(ranks ** -1.7 * np.exp(0.03 * rng.standard_normal(64)))
    assert not check.broken and check.warning == ""
    assert check.alpha == pytest.approx(1.7, abs=0.05) and check.r2 > 0.99
    assert (check.first_rank, check.last_rank) == (5, 32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_break_at_rank_10_is_found_with_both_slopes(seed):
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, 65.0)
    ss = broken_law(ranks) * np.exp(0.03 * rng.standard_normal(64))
    check = power_law_break(ss)
    assert isinstance(check, scores.PowerLawCheck) and check.broken
    assert abs(check.break_rank - 10) <= 2
    assert check.alpha_before == pytest.approx(1.0, abs=0.1)
    assert check.alpha_after == pytest.approx(3.0, abs=0.1)
    assert check.alpha == pytest.approx(fit_ols(ss)[0])  # the single fit is fit_ols's
    assert 1.5 < check.alpha < 3.0  # fitted across the bend, it is neither slope
    assert f"bends at rank {check.break_rank:.0f}" in check.warning


def test_a_poor_fit_without_a_clear_bend_is_flagged(rng):
    """Noise as large as the decay: R² of the single fit is low, whatever a hinge does."""
    ranks = np.arange(1, 65.0)
    check = power_law_break(ranks ** -0.3 * np.exp(0.3 * rng.standard_normal(64)))
    assert check.r2 < 0.9 and check.broken and "poorly (R² = " in check.warning
