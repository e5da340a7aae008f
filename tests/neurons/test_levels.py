"""Levels of a layer's inputs: the pixel level of any model, the ResNet stage levels, the design
matrix, the model cuts, and the image-level label information, against independent routes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import models, neurons
from tests import _refs as ref


def _random_variables(model, seed=1):
    """Random weights of the right shapes without running Flax's initialisers (20 s for a ResNet-20)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: models.init(model, jax.random.key(0), 8))

    def fill(path, leaf):
        name = jax.tree_util.keystr(path)
        if "var" in name or "scale" in name:
            return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape), jnp.float32)
        if "mean" in name or "bias" in name:
            return jnp.asarray(rng.normal(0, 0.2, leaf.shape), jnp.float32)
        fan_in = int(np.prod(leaf.shape[:-1]))
        return jnp.asarray(rng.normal(0, np.sqrt(2 / fan_in), leaf.shape), jnp.float32)

    return jax.tree_util.tree_map_with_path(fill, dict(shapes))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    model = models.get("small_cnn")
    variables = _random_variables(model, 0)
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 1), dtype=np.uint8)
    return model, variables, images


def test_pixel_level_is_the_normalised_image_through_the_cut(small):
    """The 5x5 receptive field of relu2 (3x3 conv, then 3x3 stride 2), its stride, and its
    function: the layer in torch, from the same weights."""
    torch = pytest.importorskip("torch")
    model, variables, images = small
    level = neurons.pixel_level(model, variables, images, "relu2")
    assert isinstance(level, neurons.Level) and level.windows == (5,) and level.strides == (2,)
    np.testing.assert_allclose(level.parts[0], (images / 255.0 - 0.5) / 0.25, rtol=1e-6, atol=1e-6)
    relu2 = ref.torch_small_cnn(variables, model.MEAN, model.STD)(torch.tensor(images / 255.0), 2)[1]
    np.testing.assert_allclose(neurons.level_outputs(level), relu2.permute(0, 2, 3, 1).numpy(), rtol=1e-4,
                               atol=1e-5)
    fn = neurons.subnetwork(model, variables, ["input"], "relu2", level.parts[0].shape[1:])
    np.testing.assert_allclose(fn((level.parts[0][0],)), relu2[0].permute(1, 2, 0).numpy(), rtol=1e-4, atol=1e-5)
    # the linearised cut drops the ReLUs: at the zero input it is the convolutions' bias path only,
    # and it is linear (f(2x) - f(0) = 2 (f(x) - f(0))) where the real cut is not
    lin = neurons.linearized(fn)
    x, zero = level.parts[0][0], jnp.zeros_like(level.parts[0][0])
    np.testing.assert_allclose(lin((2 * x,)) - lin((zero,)), 2 * (lin((x,)) - lin((zero,))), rtol=1e-4, atol=1e-4)
    assert not np.allclose(fn((-x,)), -fn((x,)), atol=1e-3)


def test_design_matrix_gathers_each_window_by_hand(small):
    model, variables, images = small
    level = neurons.pixel_level(model, variables, images, "relu2")
    positions = np.array([[0, 0, 0], [3, 1, 2], [5, 3, 3]], np.int32)
    padded = np.pad(np.asarray(level.parts[0]), ((0, 0), (2, 2), (2, 2), (0, 0)))
    want = [padded[i, 2 * h:2 * h + 5, 2 * w:2 * w + 5].ravel() for i, h, w in positions]
    np.testing.assert_array_equal(neurons.design_matrix(level, positions), want)


def test_resnet_levels_reproduce_the_stage_output():
    """The immediate and window levels of a CIFAR ResNet stage map their inputs to the same
    layer output as the model's own forward pass."""
    model = models.get("cifar_resnet20")
    variables = _random_variables(model)
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    levels, out = neurons.resnet_levels(model, variables, images, "layer1", levels=["immediate", "window"])
    from jaxinterp.capture import capture

    want = capture(model, variables, images, ["layer1"], position="all", progress=False)["layer1"]
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    for name, level in levels.items():
        np.testing.assert_allclose(neurons.level_outputs(level), want, rtol=1e-4, atol=1e-4, err_msg=name)


def test_top_components_are_numpys_principal_scores(rng):
    for shape in ((40, 6), (5, 9)):  # the eigh path (p >= d) and the SVD path (p < d)
        x = rng.normal(size=shape).astype(np.float32) * np.linspace(3, 1, shape[1]).astype(np.float32)
        got = np.asarray(neurons.top_components(jnp.asarray(x), 3))
        u, s, _ = np.linalg.svd(x - x.mean(0), full_matrices=False)
        want = u[:, :3] * s[:3]
        np.testing.assert_allclose(np.abs(np.sum(got * want, 0)) / (s[:3] ** 2), 1.0, atol=1e-4)  # up to sign


def test_image_measures_are_sklearn_and_binned_mi(rng):
    from sklearn.feature_selection._mutual_info import _compute_mi_cd

    # continuous, no ties (see the xfails in test_information.py); 300 images: 200 hits the binning bug
    labels = rng.integers(0, 4, 300)
    acts = (rng.normal(size=(300, 3)) + labels[:, None] * np.array([1.0, 0.0, 0.3])).astype(np.float32)
    got = neurons.image_measures(acts, labels)
    for i in range(3):
        assert got["mi_knn"][i] == pytest.approx(max(_compute_mi_cd(acts[:, i].astype(float), labels, 3), 0), abs=1e-4)
        assert got["mi_binned"][i] == pytest.approx(ref.mi_binned(acts[:, i], labels), abs=1e-5)
    np.testing.assert_allclose(got["nmi_knn"], got["mi_knn"] / np.log(4), rtol=1e-6)
    assert got["mi_knn"][0] > 0.3 > got["mi_knn"][1]  # the planted label dependence
    assert neurons.image_measures(acts, None) == {}


def test_a_projected_level_is_the_directions_of_the_neurons(small):
    """project_level: its outputs, Jacobians and expanded weights are the neurons' contracted with
    D [k, N] (numpy einsum of the neurons' own), one-hot rows read the neurons exactly, and a D of
    the wrong width is refused with the fix."""
    model, variables, images = small
    level = neurons.pixel_level(model, variables, images, "relu2")
    d = np.random.default_rng(3).normal(size=(3, 64)).astype(np.float32)
    d[0] = 0.0
    d[0, 5] = 1.0  # a neuron
    proj = neurons.project_level(level, d)
    out = np.asarray(neurons.level_outputs(level), np.float64)
    np.testing.assert_allclose(neurons.level_outputs(proj), out @ d.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(neurons.level_outputs(proj)[..., 0], out[..., 5].astype(np.float32))
    positions = jnp.array([[0, 1, 2], [3, 0, 0], [5, 3, 3]], jnp.int32)
    jac = np.asarray(neurons.jacobians(level, positions), np.float64)  # [p, N, d]
    np.testing.assert_allclose(neurons.jacobians(proj, positions), np.einsum("kn,pnd->pkd", d, jac),
                               rtol=1e-4, atol=1e-5)
    e = np.asarray(neurons.expanded_weights(level), np.float64)
    np.testing.assert_allclose(neurons.expanded_weights(proj), d @ e, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"directions must be \[k, 64\] .* got shape \(3, 16\); fit them on"):
        neurons.level_outputs(neurons.project_level(level, d[:, :16]))
