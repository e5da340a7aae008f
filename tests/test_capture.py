"""capture(): equals a direct forward pass, any batch size, all aggregations, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import door, models
from jaxinterp.capture import capture


@pytest.fixture(scope="module")
def small():
    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(1))
    images = np.random.default_rng(0).integers(0, 256, (37, 8, 8, 1), dtype=np.uint8)
    return model, variables, images


def direct(model, variables, images, layer):
    x = model.normalize(jnp.asarray(images, jnp.float32) / 255.0)
    return np.asarray(door.taps(model, variables, x, [layer])[layer])


@pytest.mark.parametrize("batch_size", [5, 16, 64])
def test_capture_equals_forward_for_any_batch_size(small, batch_size):
    model, variables, images = small
    out = capture(model, variables, images, ["relu2", "logits"], "all", batch_size, progress=False)
    np.testing.assert_allclose(out["relu2"], direct(model, variables, images, "relu2"), rtol=1e-5, atol=1e-6)
    assert out["logits"].shape == (37, 10)


def test_positions(small):
    model, variables, images = small
    full = direct(model, variables, images, "relu1")  # [n, 8, 8, 16]
    mean = capture(model, variables, images, ["relu1"], "mean", progress=False)["relu1"]
    centre = capture(model, variables, images, ["relu1"], "centre", progress=False)["relu1"]
    np.testing.assert_allclose(mean, full.mean((1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(centre, full[:, 4, 4], rtol=1e-5, atol=1e-6)
    # layers without spatial axes read the same at any position
    logits = capture(model, variables, images, ["logits"], "all", progress=False)["logits"]
    np.testing.assert_array_equal(capture(model, variables, images, ["logits"], "centre", progress=False)["logits"],
                                  logits)


def test_float_images_equal_uint8(small):
    model, variables, images = small
    a = capture(model, variables, images, ["relu3"], progress=False)["relu3"]
    b = capture(model, variables, images.astype(np.float32) / 255, ["relu3"], progress=False)["relu3"]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_memmap_streams(small, tmp_path):
    model, variables, images = small
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.uint8, images.shape)
    mm[:] = images
    mm.flush()
    streamed = capture(model, variables, np.load(tmp_path / "x.npy", mmap_mode="r"), ["relu2"],
                       batch_size=8, progress=False)["relu2"]
    np.testing.assert_allclose(streamed, capture(model, variables, images, ["relu2"], progress=False)["relu2"],
                               rtol=1e-6)


def test_unknown_layer_lists_available(small):
    model, variables, images = small
    with pytest.raises(ValueError, match=r"unknown layer 'layer9' in SmallCNN .*lists all 13 layers"):
        capture(model, variables, images, ["layer9"], progress=False)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((4, 8, 8), np.uint8), r"rank 4 .*got rank 3.*channel axis"),
        (np.zeros((4, 8, 8, 3), np.uint8), r"1 channel\(s\).*got shape \(4, 8, 8, 3\) with 3"),
        (np.zeros((4, 1, 8, 8), np.uint8), r"looks NCHW"),
        (np.zeros((4, 8, 8, 1), np.int32), r"uint8 \(0..255\) or float.*got dtype int32"),
        (np.zeros((0, 8, 8, 1), np.uint8), r"empty"),
    ],
)
def test_bad_images_are_explained(small, bad, message):
    model, variables, _ = small
    with pytest.raises(ValueError, match=message):
        capture(model, variables, bad, ["relu1"], progress=False)


def test_bad_position(small):
    model, variables, images = small
    with pytest.raises(ValueError, match="position must be one of 'centre', 'mean', 'max', 'all'"):
        capture(model, variables, images, ["relu1"], "middle-ish", progress=False)
    with pytest.raises(ValueError, match="spells it 'centre'"):
        capture(model, variables, images, ["relu1"], "center", progress=False)
