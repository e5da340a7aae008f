"""Jacobians and saliency against finite differences and a torch.func reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.func import jacrev, vjp, vmap  # noqa: E402

from jaxinterp import neurons  # noqa: E402
from tests.neurons._nets import make, torch_net  # noqa: E402


def rel_err(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 8, 8, 3)).astype(np.float32)
    net, params, fn = make()
    level = neurons.make_level("pixels", (x,), (5,), lambda parts: fn(parts[0]))
    positions = jnp.array([[0, 0, 0], [1, 3, 4], [2, 7, 7], [3, 4, 1], [5, 2, 6]], jnp.int32)
    return x, params, fn, level, positions


def _torch_window_jacobian(f, x_nhwc, pos, size):
    img, h, w = (int(v) for v in pos)
    xt = torch.tensor(x_nhwc[img]).permute(2, 0, 1)[None]
    jac = jacrev(lambda a: f(a)[0, :, h, w])(xt)[:, 0]  # [N, 3, H, W]
    r = size // 2
    jac = torch.nn.functional.pad(jac, (r, r, r, r))[:, :, h : h + size, w : w + size]
    return jac.permute(0, 2, 3, 1).reshape(jac.shape[0], -1).numpy()  # (dy, dx, c) order


def test_receptive_field(setup):
    *_, level, _ = setup
    assert neurons.receptive_field(lambda a: level.fn((a,)), (8, 8, 3)) == 5


def test_jacobians_match_torch_func(setup):
    x, params, fn, level, positions = setup
    ours = neurons.jacobians(level, positions)  # [p, N, d]
    f = torch_net(params)
    ref = np.stack([_torch_window_jacobian(f, x, p, 5) for p in np.asarray(positions)])
    assert ours.shape == ref.shape == (5, 4, 75)
    assert rel_err(ours, ref) < 1e-4


def test_jacobians_match_finite_differences(setup):
    x, params, fn, level, positions = setup
    ours = np.asarray(neurons.jacobians(level, positions))
    f64 = torch_net(params, torch.float64)
    rng = np.random.default_rng(1)
    for p, jac in zip(np.asarray(positions), ours):
        img, h, w = p
        v = rng.normal(size=(8, 8, 3))
        eps = 1e-6
        xt = torch.tensor(x[img], dtype=torch.float64)
        vt = torch.tensor(v)
        up = f64((xt + eps * vt).permute(2, 0, 1)[None])[0, :, h, w]
        dn = f64((xt - eps * vt).permute(2, 0, 1)[None])[0, :, h, w]
        fd = ((up - dn) / (2 * eps)).numpy()
        vwin = np.asarray(neurons.levels.window(jnp.asarray(v, jnp.float32), h, w, 5)).reshape(-1)
        assert rel_err(jac @ vwin, fd) < 1e-4


def test_saliency_matches_torch_func(setup):
    x, params, fn, _, _ = setup
    grads = np.asarray(neurons.input_gradients(fn, jnp.asarray(x)))  # [m, N, H, W, 3]
    f = torch_net(params)
    xt = torch.tensor(x).permute(0, 3, 1, 2)

    def per_image(xi):
        out, pull = vjp(lambda a: f(a[None])[0].mean(dim=(1, 2)), xi)
        return vmap(pull)(torch.eye(out.shape[0]))[0]  # [N, 3, H, W]

    ref = torch.stack([per_image(xi) for xi in xt]).permute(0, 1, 3, 4, 2).numpy()
    assert rel_err(grads, ref) < 1e-4
    sal = np.asarray(neurons.saliency_maps(fn, jnp.asarray(x)))
    np.testing.assert_allclose(sal, np.abs(ref).max(-1), atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("block", [None, 3])  # all channels at once; blocks with a ragged last one
def test_saliency_summary_equals_the_full_maps(setup, block):
    """κ of every (image, neuron) and the maps of chosen images, as from the full [m, N, H, W]
    maps, whatever the pullback block."""
    x, _, fn, _, _ = setup
    full = np.asarray(neurons.saliency_maps(fn, jnp.asarray(x)))  # [m, N, H, W]
    m, n = full.shape[:2]
    best = np.random.default_rng(3).integers(0, m, n)
    kappa, maps = neurons.saliency_summary(fn, jnp.asarray(x), jnp.asarray(best), block=block)
    np.testing.assert_allclose(np.asarray(kappa), np.asarray(neurons.concentration(jnp.asarray(full))),
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(maps), full[best, np.arange(n)], atol=1e-6 * np.abs(full).max())


def test_concentration_extremes():
    flat = jnp.ones((4, 4))
    point = jnp.zeros((4, 4)).at[1, 2].set(3.0)
    np.testing.assert_allclose(neurons.concentration(jnp.stack([flat, point, 0 * flat])), [0, 1, 0], atol=1e-6)


def test_jacobian_stats_against_numpy(rng):
    jac = rng.normal(size=(30, 7)).astype(np.float32) + np.array([3, 0, 0, 0, 0, 0, 1], np.float32)
    s = neurons.jacobian_stats(jnp.asarray(jac))
    g = jac.T @ jac / 30
    assert float(s["sensitivity"]) == pytest.approx(np.linalg.norm(jac, axis=1).mean(), rel=1e-5)
    assert float(s["consistency"]) == pytest.approx(np.sum(jac.mean(0) ** 2) / np.trace(g), rel=1e-5)
    assert float(s["effective_dim"]) == pytest.approx(np.trace(g) ** 2 / np.trace(g @ g), rel=1e-5)
    assert float(s["axis_focus"]) == pytest.approx(g.diagonal().max() / np.trace(g), rel=1e-5)
    # the Gram path (p < d) gives the same effective dimension
    wide = jnp.asarray(jac[:5])
    g5 = jac[:5].T @ jac[:5] / 5
    assert float(neurons.jacobian_stats(wide)["effective_dim"]) == pytest.approx(
        np.trace(g5) ** 2 / np.trace(g5 @ g5), rel=1e-4)


def test_jacobian_stats_all_equals_numpy_per_neuron(rng):
    """[p, N, d] Jacobians, both the G (p >= d) and the Gram (p < d) paths, against tests/_refs."""
    from tests import _refs as ref

    for p in (30, 5):
        jac = rng.normal(size=(p, 3, 7)).astype(np.float32) * np.array([1, 2, 0.5], np.float32)[None, :, None]
        jac[:, 1, 4] += 3.0  # neuron 1 leans on input 4
        got = neurons.jacobian_stats_all(jnp.asarray(jac))
        for n in range(3):
            want = ref.jacobian_stats(jac[:, n])
            for k in ("sensitivity", "consistency", "effective_dim", "axis_focus"):
                assert float(got[k][n]) == pytest.approx(want[k], rel=1e-4), (p, n, k)
        assert int(got["focus_index"][1]) == 4 == ref.jacobian_stats(jac[:, 1])["focus_index"]


def test_jacobians_in_bounded_batches_equal_the_torch_reference(setup, monkeypatch):
    """With a small ROW_FLOATS (as a 224-px model's pixel level gets: 512 pullbacks of 8 full
    images at once asked for 90 GB) the pullbacks run a few rows and one sample at a time, and
    the Jacobians are the same."""
    from jaxinterp.neurons import jacobian

    x, params, fn, level, positions = setup
    monkeypatch.setattr(jacobian, "ROW_FLOATS", 2 * 8 * 8 * 3)  # 2 rows of one 8x8x3 image
    seen = []
    real = jax.lax.map
    monkeypatch.setattr(jax.lax, "map", lambda f, xs, batch_size=None: seen.append(batch_size) or real(
        f, xs, batch_size=batch_size))
    ours = jacobian.jacobians(level, positions)
    assert seen == [1, 2]  # samples one by one, pullbacks two by two
    f = torch_net(params)
    ref = np.stack([_torch_window_jacobian(f, x, p, 5) for p in np.asarray(positions)])
    assert rel_err(ours, ref) < 1e-4


def test_stats_in_neuron_blocks_equal_the_stats_of_all_jacobians(setup, monkeypatch):
    """jacobian_stats_of with a budget of 3 neurons' Jacobians (4 neurons: 2 even blocks of 2,
    not 3 + 1 padded to 3) equals jacobian_stats_all of the whole [p, N, d] (a 224-px pixel
    level's is 15 GB), and traces one block's program once for all blocks."""
    from jaxinterp.neurons import jacobian

    x, params, fn, level, positions = setup
    whole = jacobian.jacobian_stats_all(jacobian.jacobians(level, positions))
    n = int(jacobian._outputs(level))
    monkeypatch.setattr(jacobian, "STATS_FLOATS", 3 * positions.shape[0] * level.dim)
    blocks = []
    real = jacobian.jacobians
    monkeypatch.setattr(jacobian, "jacobians", lambda *a, **kw: blocks.append(len(kw.get("units", a[3]))) or real(
        *a, **kw))
    got = jacobian.jacobian_stats_of(level, positions)
    assert blocks == [2] and n == 4  # one trace of one even block
    for k in whole:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(whole[k]), rtol=1e-5, atol=1e-7, err_msg=k)
