import jax
import numpy as np
import pytest
from sklearn.decomposition import NMF as SkNMF

from jaxinterp.directions import NMF, nmf
from tests.directions._data import relu_like


@pytest.mark.parametrize("init", ["nndsvda", "random"])
def test_mu_error_matches_sklearn(rng, init):
    x = relu_like(rng, n=500, d=20)
    ref = SkNMF(6, solver="mu", init=init, max_iter=300, random_state=0).fit(x)
    ours = NMF(6, solver="mu", init=init, max_iter=300).fit(x)
    assert ours.reconstruction_err_ <= 1.02 * ref.reconstruction_err_
    assert (ours.components_ >= 0).all()


def test_hals_reaches_mu_error_and_codes(rng):
    x = relu_like(rng, n=500, d=20)
    mu = nmf.fit(None, x, 6, solver="mu", max_iter=300)
    state, w = nmf.fit(None, x, 6, solver="hals", max_iter=300, return_codes=True)
    assert float(state.reconstruction_err) <= 1.01 * float(mu.reconstruction_err)
    exact = np.linalg.norm(x - np.asarray(w) @ np.asarray(state.components))
    np.testing.assert_allclose(float(state.reconstruction_err), exact, rtol=1e-3)
    codes = np.asarray(nmf.transform(state, x))
    assert (codes >= 0).all()
    assert np.linalg.norm(x - codes @ np.asarray(state.components)) <= 1.05 * exact


def test_rejects_negative_values(rng):
    x = relu_like(rng)
    x[3, 2] = -0.5
    with pytest.raises(ValueError, match="nonnegative"):
        nmf.fit(jax.random.key(0), x, 4)


def test_rejects_unknown_solver(rng):
    with pytest.raises(ValueError, match="solver must be one of"):
        nmf.fit(None, relu_like(rng), 4, solver="cd")
