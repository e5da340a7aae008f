"""LPIPS: parity with a PyTorch re-implementation of the reference (AlexNet) and with lpips-j (VGG16)."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import similarity as sim
from jaxinterp.similarity.lpips import CHANNELS, CIFAR_MEAN, CIFAR_STD, SCALE, SHIFT

torch = pytest.importorskip("torch")


def random_lins(net, seed=0):
    rng = np.random.default_rng(seed)
    return [np.abs(rng.normal(size=c)).astype(np.float32) for c in CHANNELS[net]]


@pytest.fixture(scope="module")
def alex():
    return sim.init_backbone(jax.random.key(0), "alex", 64)


def torch_alexnet_features(variables):
    """torchvision's alexnet().features written out, carrying the Flax weights (HWIO -> OIHW)."""
    nn = torch.nn
    layers = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )
    params = variables["params"]["features"]
    with torch.no_grad():
        for index, module in enumerate(layers):
            if isinstance(module, nn.Conv2d):
                p = params[str(index)]
                module.weight.copy_(torch.from_numpy(np.asarray(p["kernel"]).transpose(3, 2, 0, 1).copy()))
                module.bias.copy_(torch.from_numpy(np.array(p["bias"])))
    return layers.eval()


def reference_lpips(features, lins, v0, v1):
    """lpips.LPIPS.forward (v0.1) on inputs in [-1, 1] (NCHW): per-layer distances [n, 5]."""
    shift = torch.tensor(SHIFT).view(1, 3, 1, 1)
    scale = torch.tensor(SCALE).view(1, 3, 1, 1)

    def taps(v):
        x, out = (v - shift) / scale, []
        for index, module in enumerate(features):
            x = module(x)
            if index in (1, 4, 7, 9, 11):
                out.append(x)
        return out

    def normalize_tensor(f, eps=1e-10):
        return f / (torch.sqrt(torch.sum(f**2, dim=1, keepdim=True)) + eps)

    with torch.no_grad():
        per_layer = []
        for f0, f1, w in zip(taps(v0), taps(v1), lins):
            diff = (normalize_tensor(f0) - normalize_tensor(f1)) ** 2
            lin = torch.nn.functional.conv2d(diff, torch.from_numpy(w).view(1, -1, 1, 1))
            per_layer.append(lin.mean([2, 3], keepdim=True)[:, 0, 0, 0])
        return torch.stack(per_layer, dim=1).numpy()


def all_pairs_reference(features, lins, v):
    n = v.shape[0]
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    d = reference_lpips(features, lins, v[i.ravel()], v[j.ravel()])
    return d.reshape(n, n, -1)


@pytest.mark.parametrize("size, convention", [(64, "correct"), (32, "authors")])
def test_alexnet_matches_pytorch_reference(alex, size, convention):
    lins = random_lins("alex")
    images = np.asarray(jax.random.uniform(jax.random.key(1), (5, size, size, 3)))
    if convention == "correct":
        v = 2 * images - 1
    else:
        v = 2 * (images - np.asarray(CIFAR_MEAN)) / np.asarray(CIFAR_STD) - 1
    ref = all_pairs_reference(torch_alexnet_features(alex), lins, torch.from_numpy(v.transpose(0, 3, 1, 2).copy()).float())

    metric = sim.lpips(alex, lins, net="alex", convention=convention)
    feats = metric.featurize(images)
    per_layer = np.asarray(sim.all_pairs(metric, feats, layers=True))
    total = np.asarray(sim.all_pairs(metric, feats))
    np.testing.assert_allclose(-per_layer, ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(-total, ref.sum(-1), rtol=1e-5, atol=1e-7)
    assert np.all(np.diag(total) == 0)  # exact, not a Gram-product residue


def test_given_pairs_and_blocks_equal_full_matrix(alex):
    metric = sim.lpips(alex, random_lins("alex"), net="alex")
    feats = metric.featurize(np.asarray(jax.random.uniform(jax.random.key(2), (7, 32, 32, 3))))
    full = np.asarray(sim.all_pairs(metric, feats, layers=True))
    blocked = np.asarray(sim.matrix_blocked(metric, feats, layers=True, block=3))
    off = ~np.eye(7, dtype=bool)
    np.testing.assert_allclose(blocked[off], full[off], rtol=1e-6)
    pairs = np.array([[0, 1], [6, 2], [3, 3], [5, 0], [1, 0]])
    values = np.asarray(sim.pair_values(metric, feats, pairs, layers=True, block=2))
    np.testing.assert_allclose(values, full[pairs[:, 0], pairs[:, 1]], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        np.asarray(sim.pair_values(metric, feats, pairs)), values.sum(-1), rtol=1e-5
    )
    assert metric.layer_names == ("features.1", "features.4", "features.7", "features.9", "features.11")


def test_exact_pairs_keep_precision_for_near_identical_images(alex):
    metric = sim.lpips(alex, random_lins("alex"), net="alex")
    base = np.asarray(jax.random.uniform(jax.random.key(3), (1, 32, 32, 3)))
    near = np.clip(base + 1e-3 * np.asarray(jax.random.normal(jax.random.key(4), base.shape)), 0, 1)
    feats = metric.featurize(np.concatenate([base, near]))
    exact = float(sim.pair_values(metric, feats, np.array([[0, 1]]))[0])
    # the same distance in float64 from the float32 features
    f64 = [np.asarray(f, np.float64) for f in feats]
    d64 = sum(np.sum((f[0] - f[1]) ** 2) for f in f64)
    assert abs(-exact - d64) <= 1e-5 * d64


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """A private Hugging Face cache, offline, in which lpips-j finds weights we wrote."""
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_vgg_matches_lpips_j(offline_hub):
    from converters.lpips_weights import write_lpips_j_cache
    from lpips_j import lpips as lj

    variables = sim.init_backbone(jax.random.key(5), "vgg", 32)
    lins = random_lins("vgg", seed=1)
    write_lpips_j_cache(offline_hub, variables, lins)

    x = jax.random.uniform(jax.random.key(6), (3, 32, 32, 3))
    y = jax.random.uniform(jax.random.key(7), (3, 32, 32, 3))
    model = lj.LPIPS()
    params = model.init(jax.random.key(0), 2 * x - 1, 2 * y - 1)

    def per_layer(module, a, b):
        fa, fb = module.vgg((a + 1) / 2), module.vgg((b + 1) / 2)
        out = []
        for i, name in enumerate(module.feature_names):
            diff = (lj.normalize_tensor(fa[name]) - lj.normalize_tensor(fb[name])) ** 2
            out.append(lj.spatial_average(module.lins[i](diff), keepdims=False)[:, 0])
        return jnp.stack(out, axis=-1)

    theirs_total = np.asarray(model.apply(params, 2 * x - 1, 2 * y - 1)).reshape(-1)
    theirs_layers = np.asarray(model.apply(params, 2 * x - 1, 2 * y - 1, method=per_layer))

    metric = sim.lpips(variables, lins, net="vgg")
    fx, fy = metric.featurize(x), metric.featurize(y)
    ours_layers = -np.asarray(sim.matrix(metric, fx, fy, layers=True))
    ours_total = -np.asarray(sim.matrix(metric, fx, fy))
    idx = np.arange(3)
    np.testing.assert_allclose(ours_layers[idx, idx], theirs_layers, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours_total[idx, idx], theirs_total, rtol=1e-5)
    np.testing.assert_allclose(-np.asarray(metric.paired(fx, fy)), theirs_total, rtol=1e-5)


def test_out_of_range_images_warn_once(alex):
    metric = sim.lpips(alex, random_lins("alex"), net="alex")
    signed = np.asarray(jax.random.uniform(jax.random.key(8), (2, 32, 32, 3), minval=-1, maxval=1))
    with pytest.warns(sim.RangeWarning, match=r"\[0, 1\] is expected"):
        metric.featurize(signed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.featurize(signed)  # the second time is silent

    authors = sim.lpips(alex, random_lins("alex"), net="alex", convention="authors")
    normalised = (np.asarray(jax.random.uniform(jax.random.key(9), (2, 32, 32, 3))) - 0.48) / 0.25
    with pytest.warns(sim.RangeWarning, match="authors"):
        authors.featurize(normalised)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        authors.featurize(np.asarray(jax.random.uniform(jax.random.key(9), (2, 32, 32, 3))))


def test_bad_input_errors(alex):
    lins = random_lins("alex")
    metric = sim.lpips(alex, lins, net="alex")
    small = metric.featurize(np.full((2, 32, 32, 3), 0.5, np.float32))
    large = metric.featurize(np.full((2, 64, 64, 3), 0.5, np.float32))
    with pytest.raises(ValueError, match="different sizes"):
        sim.matrix(metric, small, large)
    with pytest.raises(ValueError, match="different sizes"):
        metric.paired(small, large)
    with pytest.raises(ValueError, match=r"unknown layer 'features.13' in AlexNet .*close matches: features.3"):
        sim.lpips(alex, lins, net="alex", layers=[*sim.lpips.__globals__["TAPS"]["alex"][:4], "features.13"]).featurize(
            np.zeros((1, 32, 32, 3), np.float32)
        )
    with pytest.raises(ValueError, match="negative"):
        sim.lpips(alex, [-w for w in lins], net="alex")
    with pytest.raises(ValueError, match="channels"):
        sim.lpips(alex, random_lins("vgg"), net="alex")
    with pytest.raises(ValueError, match="unknown LPIPS convention"):
        sim.lpips(alex, lins, net="alex", convention="imagenet")
    with pytest.raises(ValueError, match="unknown LPIPS net"):
        sim.lpips(alex, lins, net="squeeze")
    with pytest.raises(ValueError, match="NHWC"):
        metric.featurize(np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="needs weights"):
        sim.get("lpips")
