"""converters.lpips_weights: the lpips package's .pth files, lpips-j's h5 files, refusals."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from converters import lpips_weights as lw
from jaxinterp import similarity as sim
from jaxinterp.similarity.lpips import CHANNELS, TAPS, backbone, lpips_input, scaling_layer
from jaxinterp.similarity.taps import truncated_taps


def numpy_layer_distance(act_a, act_b, w):
    """mean_{h,w} Σ_c w_c (ŷa - ŷb)² in float64, the reference formula for one layer."""
    a, b = np.asarray(act_a, np.float64), np.asarray(act_b, np.float64)
    a = a / (np.sqrt((a**2).sum(-1, keepdims=True)) + 1e-10)
    b = b / (np.sqrt((b**2).sum(-1, keepdims=True)) + 1e-10)
    return (((a - b) ** 2) * w).sum(-1).mean(axis=(1, 2))


@pytest.mark.slow
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_real_lin_weights_land_in_their_layers(shared_data, net):
    path = shared_data / "lpips_v0.1" / f"{net}.pth"
    if not path.exists():
        pytest.skip(f"real-data test: {path} is absent")
    import torch

    raw = torch.load(path, map_location="cpu", weights_only=True)
    lins = lw.load_lin(path)
    assert [w.shape for w in lins] == [(c,) for c in CHANNELS[net]]
    for i, w in enumerate(lins):
        np.testing.assert_array_equal(w, raw[f"lin{i}.model.1.weight"].numpy().reshape(-1))
        assert (w >= 0).all()

    variables = sim.init_backbone(jax.random.key(0), net, 32)
    metric = sim.lpips(variables, lins, net=net)
    images = np.asarray(jax.random.uniform(jax.random.key(1), (2, 32, 32, 3)))
    ours = -np.asarray(metric.paired_layers(*[tuple(f[i:i + 1] for f in metric.featurize(images)) for i in (0, 1)]))[0]
    acts = truncated_taps(backbone(net), TAPS[net])(variables, scaling_layer(lpips_input(images)))
    want = [numpy_layer_distance(a[:1], a[1:], w)[0] for a, w in zip(acts, lins)]
    np.testing.assert_allclose(ours, want, rtol=1e-4)


def test_h5_round_trip_and_lpips_from_files(tmp_path, rng):
    variables = sim.init_backbone(jax.random.key(2), "vgg", 32)
    lins = [np.abs(rng.normal(size=c)).astype(np.float32) for c in CHANNELS["vgg"]]
    snapshot = lw.write_lpips_j_cache(tmp_path, variables, lins)
    assert (tmp_path / "models--pcuenq--lpips-jax" / "refs" / "main").read_text() == snapshot.name
    for got, want in zip(lw.load_lin(snapshot / "lpips_lin.h5"), lins):
        np.testing.assert_array_equal(got, want)
    back = lw.vgg16_from_h5(snapshot / "vgg16_weights.h5")
    for leaf_a, leaf_b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(variables)):
        np.testing.assert_array_equal(np.asarray(leaf_a), np.asarray(leaf_b))

    images = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    from_files = lw.lpips_from_files(snapshot / "vgg16_weights.h5", snapshot / "lpips_lin.h5", net="vgg")
    direct = sim.lpips(variables, lins, net="vgg")
    np.testing.assert_allclose(
        np.asarray(sim.all_pairs(from_files, from_files.featurize(images))),
        np.asarray(sim.all_pairs(direct, direct.featurize(images))), rtol=1e-6,
    )


def test_refusals(tmp_path):
    import torch

    bad = tmp_path / "bad.pth"
    torch.save({"lin0.model.1.weight": torch.ones(1, 64, 1, 1), "net.0.weight": torch.ones(3)}, bad)
    with pytest.raises(lw.LpipsWeightsError, match=r"missing \['lin1.model.1.weight'"):
        lw.load_lin(bad)
    with pytest.raises(lw.LpipsWeightsError, match=r"\.pth \(lpips package\) or \.h5"):
        lw.load_lin(tmp_path / "weights.npz")
    with pytest.raises(FileNotFoundError):
        lw.load_lin(tmp_path / "absent.h5")
    with pytest.raises(lw.LpipsWeightsError, match="net='vgg'"):
        lw.lpips_from_files(tmp_path / "vgg16_weights.h5", bad, net="alex")


def test_wrong_lpips_files_get_lpips_advice(tmp_path):
    import torch

    not_alexnet = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.ones(16, 3, 3, 3)}, not_alexnet)
    lin = tmp_path / "alex.pth"
    torch.save({f"lin{i}.model.1.weight": torch.ones(1, c, 1, 1) for i, c in enumerate(CHANNELS["alex"])}, lin)
    with pytest.raises(ValueError) as err:
        lw.lpips_from_files(not_alexnet, lin, net="alex")
    message = str(err.value)
    assert "--arch" not in message
    assert "--lpips-backbone" in message and "ImageNet alexnet weights for net='alex'" in message
    assert "net='vgg'" in message
    with pytest.raises(lw.LpipsWeightsError, match=r"as the lin weights \(--lpips-lin\); a backbone"):
        lw.load_lin(not_alexnet)
