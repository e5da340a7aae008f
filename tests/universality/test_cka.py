"""Single-pair CKA against Kornblith et al.'s numpy code and the properties CKA must have."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from jaxinterp.universality import cka_from_grams, gram_rbf, hsic, linear_cka, rbf_cka
from tests.universality import _refs


@pytest.fixture
def xy(rng):
    z = rng.standard_normal((60, 4))
    x = z @ rng.standard_normal((4, 7)) + 0.5 * rng.standard_normal((60, 7))
    y = np.maximum(z[:, :3] @ rng.standard_normal((3, 5)), 0) + 0.3 * rng.standard_normal((60, 5))
    return x.astype(np.float32), y.astype(np.float32)


@pytest.mark.parametrize("unbiased", [True, False])
def test_linear_cka_matches_numpy_gram_reference(xy, unbiased):
    x, y = xy
    ref = _refs.cka(_refs.gram_linear(x.astype(float)), _refs.gram_linear(y.astype(float)), unbiased)
    assert float(linear_cka(x, y, unbiased)) == pytest.approx(ref, abs=2e-5)
    assert float(cka_from_grams(x @ x.T, y @ y.T, unbiased)) == pytest.approx(ref, abs=2e-5)


@pytest.mark.parametrize("unbiased", [True, False])
def test_rbf_cka_matches_numpy_reference(xy, unbiased):
    x, y = xy
    ref = _refs.cka(_refs.gram_rbf(x.astype(float)), _refs.gram_rbf(y.astype(float)), unbiased)
    assert float(rbf_cka(x, y, 1.0, unbiased)) == pytest.approx(ref, abs=2e-5)
    ref_half = _refs.cka(_refs.gram_rbf(x.astype(float), 0.5), _refs.gram_rbf(y.astype(float), 0.5), unbiased)
    assert float(rbf_cka(x, y, 0.5, unbiased)) == pytest.approx(ref_half, abs=2e-5)
    assert abs(ref_half - ref) > 1e-3  # the bandwidth matters, so the check above means something


def test_unbiased_hsic_is_song_et_al(xy):
    x, y = (a.astype(float) for a in xy)
    K, L = _refs.gram_rbf(x), _refs.gram_rbf(y)
    assert float(hsic(K.astype(np.float32), L.astype(np.float32))) == pytest.approx(
        _refs.hsic_unbiased(K, L), rel=1e-4)


@pytest.mark.parametrize("measure", [linear_cka, rbf_cka])
def test_cka_of_a_representation_with_itself_is_one(xy, measure):
    x, _ = xy
    assert float(measure(x, x)) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("measure", [linear_cka, rbf_cka])
def test_invariant_to_orthogonal_maps_and_isotropic_scaling(xy, measure):
    x, y = xy
    q = ortho_group.rvs(x.shape[1], random_state=3).astype(np.float32)
    base = float(measure(x, y))
    assert float(measure(x @ q * 4.5, y)) == pytest.approx(base, abs=2e-5)
    assert float(measure(x, y * 0.01)) == pytest.approx(base, abs=2e-5)
    # ...but not to an anisotropic rescaling of the units
    d = np.linspace(0.1, 10, x.shape[1]).astype(np.float32)
    assert abs(float(measure(x * d, y)) - base) > 1e-2


def test_unbiased_linear_cka_ignores_a_shift_and_independent_data_is_near_zero(rng, xy):
    x, y = xy
    assert float(linear_cka(x + 50.0, y - 3.0)) == pytest.approx(float(linear_cka(x, y)), abs=1e-4)
    a, b = rng.standard_normal((400, 30)), rng.standard_normal((400, 30))
    assert abs(float(linear_cka(a, b))) < 0.02  # unbiased: ~0 for independent features
    assert float(linear_cka(a, b, unbiased=False)) > 0.04  # the biased estimator is not (~d/n)


def test_gram_rbf_bandwidth_is_the_median_distance(xy):
    x, _ = xy
    np.testing.assert_allclose(np.asarray(gram_rbf(x)), _refs.gram_rbf(x.astype(float)), atol=1e-5)


def test_bad_input_is_refused(xy):
    x, y = xy
    with pytest.raises(ValueError, match="covers 60 images but y covers 59"):
        linear_cka(x, y[:59])
    with pytest.raises(ValueError, match="2-D representation"):
        rbf_cka(x[:, 0], y)
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka(x[:3], y[:3])
