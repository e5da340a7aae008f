"""The model interface: PyTorch-style layer names, shapes, registry, checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import door, models
from jaxinterp.checkpoint import load_variables, save_variables


def test_layer_names_follow_the_forward_pass():
    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(0))
    names = door.layer_names(model, variables, (1, 8, 8, 1))
    assert names[0] == "input" and names[-1] == "logits"
    assert names.index("conv1") < names.index("bn1") < names.index("relu1") < names.index("conv2")
    shapes = door.layer_shapes(model, variables, (2, 8, 8, 1))
    assert shapes["relu1"] == (2, 8, 8, 16) and shapes["relu2"] == (2, 4, 4, 64)
    assert shapes["pool"] == (2, 64) and shapes["fc"] == (2, 10)


def test_taps_return_the_asked_layers_and_logits():
    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (3, 8, 8, 1))
    acts = door.taps(model, variables, x, ["relu3", "pool", "input", "logits"])
    logits = acts["logits"]
    np.testing.assert_allclose(acts["pool"], acts["relu3"].mean((1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(acts["input"], x)
    np.testing.assert_array_equal(acts["logits"], logits)
    # fc output is the logits
    np.testing.assert_allclose(logits, model.apply(variables, x), rtol=1e-6)


def test_unknown_layer_error_says_how_to_list_layers():
    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(0))
    with pytest.raises(ValueError, match="unknown layer .relu9. in SmallCNN.*close matches: relu3, relu2, relu1. .jaxinterp layers "
                                         "--arch small_cnn. lists all 13 layers"):
        door.taps(model, variables, jnp.zeros((1, 8, 8, 1)), ["relu9"])


def test_registry_unknown_name_lists_known():
    with pytest.raises(ValueError, match="small_cnn"):
        models.get("resnet9000")
    assert "small_cnn" in models.names()


def test_normalize_uses_class_constants():
    model = models.SmallCNNRGB()
    x = jnp.full((1, 2, 2, 3), 0.5)
    expected = (0.5 - np.array(model.MEAN)) / np.array(model.STD)
    np.testing.assert_allclose(model.normalize(x)[0, 0, 0], expected, rtol=1e-6)


def test_orbax_roundtrip(tmp_path):
    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(3))
    save_variables(tmp_path / "ck", variables, {"arch": "small_cnn"})
    restored, meta = load_variables(tmp_path / "ck")
    assert meta == {"arch": "small_cnn"}
    jax.tree_util.tree_map(np.testing.assert_array_equal, variables, restored)


def test_missing_checkpoint_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="no jaxinterp checkpoint"):
        load_variables(tmp_path / "nothing")
