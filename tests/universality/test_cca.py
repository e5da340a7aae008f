"""SVCCA and PWCCA against scikit-learn's CCA and a numpy reference; all pairs equal a loop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group
from sklearn.cross_decomposition import CCA

from jaxinterp.universality import canonical_correlations, cca_all_pairs, pwcca, svcca
from tests.universality import _refs


@pytest.fixture
def xy(rng):
    n = 300
    z = rng.standard_normal((n, 3))
    x = np.c_[z, rng.standard_normal((n, 2))] @ rng.standard_normal((5, 5))
    y = np.c_[z[:, :2] + 0.5 * rng.standard_normal((n, 2)), rng.standard_normal((n, 2))] @ rng.standard_normal((4, 4))
    return x.astype(np.float32), y.astype(np.float32)


def _sklearn_rhos(x, y, k):
    a, b = CCA(n_components=k, max_iter=20000, tol=1e-12).fit(x, y).transform(x, y)
    return np.array([np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(k)])


def _truncate(x, keep):
    xc = x - x.mean(0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    frac = np.cumsum(s**2) / np.sum(s**2)
    k = int(np.searchsorted(frac, keep) + 1)
    return u[:, :k] * s[:k]


def test_canonical_correlations_match_sklearn_cca(xy):
    x, y = xy
    rho, valid = canonical_correlations(x, y)
    assert bool(np.all(valid)) and rho.shape == (4,)
    np.testing.assert_allclose(np.asarray(rho), _sklearn_rhos(x.astype(float), y.astype(float), 4), atol=1e-4)


def test_svcca_matches_sklearn_cca_on_truncated_data(xy):
    x, y = xy
    tx, ty = _truncate(x.astype(float), 0.9), _truncate(y.astype(float), 0.9)
    k = min(tx.shape[1], ty.shape[1])
    assert k < 4  # the truncation really removed directions
    assert float(svcca(x, y, keep=0.9)) == pytest.approx(_sklearn_rhos(tx, ty, k).mean(), abs=1e-4)
    assert float(svcca(x, y, keep=1.0)) == pytest.approx(_sklearn_rhos(x, y, 4).mean(), abs=1e-4)


def _pwcca_numpy(x, y):
    """Morcos et al. 2018, from the covariance eigenproblem."""
    x, y = x - x.mean(0), y - y.mean(0)
    sxx, syy, sxy = x.T @ x, y.T @ y, x.T @ y
    ix = np.linalg.inv(np.linalg.cholesky(sxx)).T  # whitening: ixᵀ sxx ix = I
    iy = np.linalg.inv(np.linalg.cholesky(syy)).T
    u, rho, _ = np.linalg.svd(ix.T @ sxy @ iy)
    k = min(x.shape[1], y.shape[1])
    h = x @ ix @ u[:, :k]  # canonical variates of x, orthonormal columns
    alpha = np.abs(h.T @ x).sum(1)
    return np.sum(alpha * rho[:k]) / alpha.sum()


def _svcca_numpy(x, y, keep):
    qx, _ = np.linalg.qr(_truncate(x, keep))
    qy, _ = np.linalg.qr(_truncate(y, keep))
    return np.linalg.svd(qx.T @ qy, compute_uv=False).mean()


def _pwcca_numpy_rank_deficient(x, y):
    """The same with SVD whitening that drops null directions (layers with fewer dims than units)."""
    def q(a):
        u, sv, _ = np.linalg.svd(a - a.mean(0), full_matrices=False)
        return u[:, sv > 1e-5 * sv[0]]

    qx, qy = q(x), q(y)
    u, rho, _ = np.linalg.svd(qx.T @ qy)
    k = min(qx.shape[1], qy.shape[1])
    alpha = np.abs((qx @ u[:, :k]).T @ (x - x.mean(0))).sum(1)
    return np.sum(alpha * rho[:k]) / alpha.sum()


def test_pwcca_matches_numpy_reference(xy):
    x, y = xy
    assert float(pwcca(x, y)) == pytest.approx(_pwcca_numpy(x.astype(float), y.astype(float)), abs=1e-4)
    assert _pwcca_numpy_rank_deficient(x.astype(float), y.astype(float)) == pytest.approx(
        _pwcca_numpy(x.astype(float), y.astype(float)), abs=1e-8)
    assert float(pwcca(x, y)) != pytest.approx(float(svcca(x, y, 1.0)), abs=1e-3)  # the weights matter


@pytest.mark.parametrize("measure", [svcca, pwcca])
def test_cca_measures_are_one_for_a_rotated_and_scaled_copy(xy, measure):
    x, _ = xy
    q = ortho_group.rvs(x.shape[1], random_state=1).astype(np.float32)
    assert float(measure(x, x @ q * 7.0)) == pytest.approx(1.0, abs=1e-4)


def test_full_cca_is_invariant_to_any_invertible_map_but_truncation_is_not(xy):
    x, _ = xy
    d = np.linspace(0.5, 3, 5).astype(np.float32)
    assert float(svcca(x, x * d, keep=1.0)) == pytest.approx(1.0, abs=1e-4)
    assert float(pwcca(x, x * d)) == pytest.approx(1.0, abs=1e-4)
    assert float(svcca(x, x * d, keep=0.9)) < 0.999  # SVCCA's variance cut depends on the unit scales


def test_dead_and_duplicate_units_are_dropped(xy):
    x, y = xy
    dead = np.c_[x, np.zeros(len(x))].astype(np.float32)
    copy = np.c_[x, x[:, :1]].astype(np.float32)
    assert float(pwcca(dead, y)) == pytest.approx(float(pwcca(x, y)), abs=1e-4)
    assert float(svcca(dead, y, 1.0)) == pytest.approx(float(svcca(x, y, 1.0)), abs=1e-4)
    assert float(svcca(copy, y, 1.0)) == pytest.approx(float(svcca(x, y, 1.0)), abs=1e-4)


def test_all_pairs_equal_a_loop(rng):
    a, b = _refs.layers(rng, n=60)
    sv, pw = cca_all_pairs(a, b, keep=0.99)
    sv_loop = np.array([[_svcca_numpy(x.astype(float), y.astype(float), 0.99) for y in b.values()]
                        for x in a.values()])
    pw_loop = np.array([[_pwcca_numpy_rank_deficient(x.astype(float), y.astype(float)) for y in b.values()]
                        for x in a.values()])
    np.testing.assert_allclose(np.asarray(sv), sv_loop, atol=1e-4)
    np.testing.assert_allclose(np.asarray(pw), pw_loop, atol=1e-4)


def test_bad_input_is_refused(xy):
    x, y = xy
    with pytest.raises(ValueError, match="covers 300 images but y covers 10"):
        svcca(x, y[:10])
    with pytest.raises(ValueError, match="fraction of variance"):
        svcca(x, y, keep=1.5)
    with pytest.raises(ValueError, match="acts_a covers 300 images but acts_b covers 299"):
        cca_all_pairs({"x": x}, {"y": y[:299]})
