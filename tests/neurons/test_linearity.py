"""Ridge R² with a shared Cholesky against a numpy ridge; the MLP ceiling; bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import neurons


def numpy_ridge(x, y, lam):
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    coef = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ (y - my))
    return coef, my - mx @ coef


@pytest.mark.parametrize("n,d", [(300, 12), (60, 90)])  # primal and dual (n < d) solves
def test_ridge_matches_numpy_at_chosen_penalty(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, 5)) * (np.arange(d) < 12)[:, None]
    y = (x @ w + rng.normal(size=(n, 5)) * np.array([0.01, 0.1, 1, 3, 10])).astype(np.float32)
    sp = neurons.split(jax.random.key(0), n)
    fit = neurons.ridge_cv(x, y, sp)
    assert isinstance(fit, neurons.RidgeFit)
    xf, yf = x[np.asarray(sp.fit)], y[np.asarray(sp.fit)]
    xt, yt = x[np.asarray(sp.test)], y[np.asarray(sp.test)]
    for j in range(5):  # one neuron at a time (not `n`: the sample count is used below)
        coef, b = numpy_ridge(xf.astype(float), yf[:, j].astype(float), float(fit.lam[j]))
        np.testing.assert_allclose(fit.coef[:, j], coef, rtol=2e-3, atol=2e-4)
        pred = xt @ coef + b
        r2 = 1 - np.sum((yt[:, j] - pred) ** 2) / np.sum((yt[:, j] - yt[:, j].mean()) ** 2)
        assert float(fit.r2_test[j]) == pytest.approx(r2, abs=1e-4)
    if n > d:
        assert list(np.argsort(-np.asarray(fit.r2_test))) == [0, 1, 2, 3, 4]  # noisier = lower R²


def test_mlp_ceiling_fits_nonlinear_neuron(rng):
    x = rng.normal(size=(1200, 2)).astype(np.float32)
    y = np.stack([x[:, 0] * x[:, 1], 2 * x[:, 0] - x[:, 1]], 1).astype(np.float32)
    sp = neurons.split(jax.random.key(0), 1200)
    lin = neurons.ridge_cv(x, y, sp).r2_test
    ceiling = neurons.mlp_ceiling(jax.random.key(1), x, y, sp, hidden=(32, 32), steps=800)
    assert isinstance(ceiling, neurons.MLPFit)
    nl = ceiling.r2_test
    assert float(lin[0]) < 0.05 and float(nl[0]) > 0.85
    assert float(nl[1]) > 0.97
    lf = neurons.linearity_fraction(lin, nl)
    assert float(lf[0]) < 0.1 and float(lf[1]) > 0.97


def test_too_few_samples_for_cv():
    with pytest.raises(ValueError, match="too few samples for 5-fold cross-validation"):
        neurons.split(jax.random.key(0), 9)
    x, y = np.zeros((20, 3), np.float32), np.zeros((20, 2), np.float32)
    bad = neurons.Split(jnp.arange(6), jnp.arange(6, 20))
    with pytest.raises(ValueError, match="needs at least 10 fitting samples"):
        neurons.ridge_cv(x, y, bad)
    with pytest.raises(ValueError, match=r"x must be \[p, d\] and y \[p, N\]"):
        neurons.ridge_cv(x, y[:5], neurons.split(jax.random.key(0), 20))


def test_level_without_spatial_axes_is_refused():
    with pytest.raises(ValueError, match="with spatial axes for a window"):
        neurons.make_level("window", (np.zeros((10, 16), np.float32),), (3,), lambda p: p[0])
    with pytest.raises(ValueError, match="odd"):
        neurons.make_level("window", (np.zeros((10, 4, 4, 2), np.float32),), (2,), lambda p: p[0])


def test_mlp_ceiling_in_neuron_blocks_equals_all_at_once(rng, monkeypatch):
    """Under a memory budget of 2 neurons' MLPs, 5 neurons train in 3 even blocks (the last
    padded), each neuron with its own key: the same fits as one vmapped program (a 224-px pixel
    level's 512 MLPs of 34k inputs asked for 72 GB at once)."""
    from jaxinterp.neurons import linearity

    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.tanh(x[:, :5] * x[:, 1:6]).astype(np.float32)
    sp = neurons.split(jax.random.key(0), 300)
    offset = neurons.ridge_cv(x, y, sp)
    offset = x @ offset.coef + offset.intercept[None, :]
    kw = dict(hidden=(8,), steps=40, every=10, offset=offset)
    whole = neurons.mlp_ceiling(jax.random.key(1), x, y, sp, **kw)
    calls = []
    real = linearity._mlp_ceiling
    monkeypatch.setattr(linearity, "_mlp_ceiling", lambda keys, *a, **k: calls.append(len(keys)) or real(keys, *a, **k))
    monkeypatch.setattr(linearity, "MLP_FLOATS", 2 * 8 * linearity._mlp_params((6, 8, 1)))
    blocked = neurons.mlp_ceiling(jax.random.key(1), x, y, sp, **kw)
    assert calls == [2, 2, 2]
    for a, b in zip(whole, blocked):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
