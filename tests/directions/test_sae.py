import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.directions import SparseAutoencoder, sae
from tests.directions._data import superposition


def mmcs(truth, learned):
    """Mean over ground-truth features of the best cosine with a learned direction."""
    return float(np.mean(np.max(truth @ learned.T, axis=1)))


@pytest.fixture(scope="module")
def toy():
    return superposition(np.random.default_rng(0))


@pytest.mark.parametrize("variant, kw", [
    ("l1", dict(l1_mode="sharkey", l1_coeff=0.5)),
    ("topk", dict(topk=2)),
    ("jumprelu", dict(l1_coeff=1e-2, bandwidth=0.05, init_threshold=0.1)),
])
def test_recovers_planted_features(toy, key, variant, kw):
    x, truth = toy
    est = SparseAutoencoder(32, variant=variant, batch_size=512, max_steps=600,
                            learning_rate=3e-3, **kw).fit(x)
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1.0, atol=1e-5)
    assert mmcs(truth, est.components_) >= 0.9


@pytest.mark.parametrize("l1_mode", ["sharkey", "authors"])
def test_loss_and_gradients_equal_torch_autograd(toy, key, l1_mode):
    """The L1 SAE of METHODS.md §4.4 written sample-major in torch (c = ReLU(W_e x + b_e); x̂ = W_d c
    with W_d's columns rescaled to unit norm in the forward pass; MSE + λ·mean_batch‖c‖₁/K for
    Sharkey's penalty or λ·Σ|c| for the authors'): its value and autograd gradients against
    loss_fn and jax.grad of the feature-major kernel."""
    torch = pytest.importorskip("torch")
    x, _ = toy
    batch, lam, k = x[:64], 0.3, 32
    rng = np.random.default_rng(1)  # off the init: biased encoder, decoder columns not unit-norm
    params = {n: np.asarray(v) + 0.1 * rng.standard_normal(np.shape(v)).astype(np.float32)
              for n, v in sae.init_params(key, x.shape[1], k).items()}
    config = sae.SAEConfig("l1", l1_mode, lam)
    (loss, parts), grads = jax.value_and_grad(sae.loss_fn, has_aux=True)(params, jnp.asarray(batch), config)

    t = {n: torch.tensor(params[n], dtype=torch.float64, requires_grad=True) for n in ("W_enc", "b_enc", "W_dec")}
    xb = torch.tensor(batch, dtype=torch.float64)
    codes = torch.relu(xb @ t["W_enc"].T + t["b_enc"])
    x_hat = codes @ (t["W_dec"] / t["W_dec"].norm(dim=0)).T
    mse = ((xb - x_hat) ** 2).mean()
    penalty = lam * codes.abs().sum(1).mean() / k if l1_mode == "sharkey" else lam * codes.abs().sum()
    (mse + penalty).backward()
    assert float(parts["mse"]) == pytest.approx(mse.item(), rel=1e-5)
    assert float(loss) == pytest.approx((mse + penalty).item(), rel=1e-5)
    for n in t:
        np.testing.assert_allclose(grads[n], t[n].grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=n)


def test_topk_keeps_the_k_largest_codes(toy, key):
    x, _ = toy
    state = sae.fit(key, x, 32, variant="topk", topk=3, batch_size=256, max_steps=3)
    codes = np.asarray(sae.transform(state, x[:50]))
    pre = x[:50] @ np.asarray(state.params["W_enc"]).T + np.asarray(state.params["b_enc"])
    want = np.zeros_like(pre)
    top = np.argsort(-pre, axis=1)[:, :3]
    rows = np.arange(len(pre))[:, None]
    want[rows, top] = np.maximum(pre[rows, top], 0)
    np.testing.assert_allclose(codes, want, rtol=1e-5, atol=1e-6)
    assert (np.count_nonzero(codes, axis=1) <= 3).all()


def test_resume_equals_uninterrupted(toy, key, tmp_path):
    x, _ = toy
    kw = dict(variant="jumprelu", l1_coeff=1e-2, batch_size=256, max_steps=24)
    full = sae.fit(key, x, 32, **kw)
    part = sae.fit(key, x, 32, checkpoint_dir=tmp_path, checkpoint_every=5, until_step=11, **kw)
    assert int(part.step) == 11
    resumed = sae.fit(key, x, 32, checkpoint_dir=tmp_path, checkpoint_every=5, **kw)
    for name in full.params:
        np.testing.assert_array_equal(resumed.params[name], full.params[name])


def test_bad_input(toy, key):
    x, _ = toy
    with pytest.raises(ValueError, match="variant must be one of"):
        sae.fit(key, x, 8, variant="l2")
    with pytest.raises(ValueError, match="topk must be"):
        sae.fit(key, x, 8, variant="topk", topk=9)
    bad = x[:512].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        sae.fit(key, bad, 8, batch_size=512, max_steps=1)


@pytest.mark.parametrize("change, field", [
    (dict(k=24), "k"),
    (dict(l1_coeff=0.2), "l1_coeff"),
    (dict(width=8), "n_features"),
])
def test_checkpoint_of_another_fit_is_refused(toy, key, tmp_path, change, field):
    """Reusing a checkpoint_dir with another k, λ or data width must not return the old fit."""
    x, _ = toy
    kw = dict(batch_size=256, max_steps=4, checkpoint_every=2)
    sae.fit(key, x, 16, l1_coeff=0.1, checkpoint_dir=tmp_path, **kw)
    k = change.get("k", 16)
    data = x[:, :change["width"]] if "width" in change else x
    with pytest.raises(ValueError, match=rf"other settings \({field}: checkpoint .*fresh checkpoint_dir"):
        sae.fit(key, data, k, l1_coeff=change.get("l1_coeff", 0.1), checkpoint_dir=tmp_path, **kw)
    # the same settings resume (to the same parameters as without a checkpoint)
    again = sae.fit(key, x, 16, l1_coeff=0.1, checkpoint_dir=tmp_path, **kw)
    plain = sae.fit(key, x, 16, l1_coeff=0.1, **kw)
    np.testing.assert_array_equal(again.params["W_dec"], plain.params["W_dec"])


def test_reconstruct_is_codes_times_dictionary(toy, key):
    x, _ = toy
    state = sae.fit(key, x, 32, batch_size=256, max_steps=5)
    want = np.asarray(sae.transform(state, x[:20])) @ np.asarray(sae.decoder_directions(state))
    np.testing.assert_allclose(sae.reconstruct(state, x[:20]), want, rtol=1e-5, atol=1e-6)


def test_fit_many_equals_separate_fits(toy):
    """One program over 4 configurations (2 K × λ, 2 seeds) = 4 separate fits, to float rounding."""
    import jax

    x, truth = toy
    configs = [dict(k=32, l1_coeff=0.5), dict(k=32, l1_coeff=0.05), dict(k=48, l1_coeff=0.5),
               dict(k=48, l1_coeff=0.2)]
    keys = [jax.random.key(0), jax.random.key(1), jax.random.key(0), jax.random.key(0)]
    kw = dict(batch_size=512, max_steps=20, learning_rate=3e-3)  # 2 dispatches of the step loop
    many = sae.fit_many(keys, x, configs, **kw)
    for kk, c, got in zip(keys, configs, many):
        want = sae.fit(kk, x, **c, **kw)
        assert got.config == want.config and int(got.step) == int(want.step) == 20
        for name in want.params:
            np.testing.assert_allclose(got.params[name], want.params[name], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{c} {name}")
    # the configurations did train apart: λ and the seed's batches change the result
    assert np.abs(np.asarray(many[0].params["W_enc"]) - np.asarray(many[1].params["W_enc"])).max() > 1e-3


def test_fit_many_bad_input(toy, key):
    x, _ = toy
    with pytest.raises(ValueError, match="may set 'l1_coeff'.*keyword arguments"):
        sae.fit_many(key, x, [dict(k=8, batch_size=64)])
    with pytest.raises(ValueError, match="one key per configuration"):
        sae.fit_many([key, key], x, [dict(k=8)] * 3)
    with pytest.raises(ValueError, match="in-memory"):
        sae.fit_many(key, lambda: iter([x[:64]]), [dict(k=8)])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_fit_many_takes_one_raw_key_for_all(toy, n):
    """A raw jax.random.PRNGKey (uint32 [2]) is one key, as sae.fit takes it: with 2
    configurations it is not split into two scalars, with 3 it is no 'got 2' error."""
    import jax

    x, _ = toy
    raw = jax.random.PRNGKey(7)
    kw = dict(batch_size=256, max_steps=3)
    many = sae.fit_many(raw, x, [dict(k=8)] * n, **kw)
    want = sae.fit(raw, x, k=8, **kw)
    assert len(many) == n and many[0].config.l1_coeff == want.config.l1_coeff == sae.DEFAULT_L1
    for got in many:
        np.testing.assert_allclose(got.params["W_enc"], want.params["W_enc"], rtol=1e-5, atol=1e-6)
