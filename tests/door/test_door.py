"""The door: the layer graph against Flax's own capture, taps against a full forward pass,
the early stop, pre-ReLU reads against the sum they are made of, the one layer error, handler
nesting, and receptive fields of ResNet-56 depth against the analytic recursion."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import door, models
from jaxinterp.models.cifar_resnet import CifarResNet
from jaxinterp.models.small_cnn import SmallCNN

REPO = Path(__file__).resolve().parents[2]


def flax_capture(model, variables, x):
    """Every named submodule's (last) output, by Flax's own ``capture_intermediates``."""
    _, state = model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
    out = {}

    def walk(tree, prefix):
        for key, value in tree.items():
            if key == "__call__":
                out[".".join(prefix)] = value[-1]
            else:
                walk(value, prefix + (key,))

    walk(state["intermediates"], ())
    out.pop("", None)
    return out


@pytest.fixture(scope="module")
def resnet8():
    model = CifarResNet(depth=8)
    return model, jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


@pytest.fixture(scope="module")
def x():
    return jax.random.normal(jax.random.key(1), (3, 32, 32, 3))


def test_graph_names_and_shapes_match_flax_capture(resnet8, x):
    model, variables = resnet8
    g = door.graph(model, variables, (32, 32, 3))
    ref = flax_capture(model, variables, x)
    assert isinstance(g, door.LayerGraph) and isinstance(g["layer1"], door.Layer)
    assert set(g.names) == set(ref) | {"input", "logits"}
    for name, a in ref.items():
        assert g[name].shape == a.shape[1:], name
    # call order: every block's parts before the block, every stage before the next
    assert g.index("layer1.0.conv1") < g.index("layer1.0.bn2") < g.index("layer1.0") < g.index("layer1")
    assert g.index("layer1") < g.index("layer2.0.conv1") and g.names[0] == "input" and g.names[-1] == "logits"
    assert door.graph(model, variables, (32, 32, 3)) is g  # built once, then looked up
    assert g.neighbours("layer2") == ("layer1", "layer3")
    assert g.children("layer1.0") == ("layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2", "layer1.0.bn2",
                                      "layer1.0.shortcut")


def test_relu_flags():
    model = SmallCNN()
    variables = models.init(model, jax.random.key(0))
    g = door.graph(model, variables, (8, 8, 1))
    assert [n for n in g.names if g[n].relu] == ["relu1", "relu2", "relu3"]
    resnet = CifarResNet(depth=8)
    shapes = jax.eval_shape(lambda k: resnet.init(k, jnp.zeros((1, 32, 32, 3))), jax.random.key(0))
    gr = door.graph(resnet, shapes, (32, 32, 3))  # only shapes are needed
    assert gr["layer1.0"].relu and gr["layer1"].relu and not gr["layer1.0.bn2"].relu and not gr["bn1"].relu
    assert not gr["layer1.0.shortcut"].relu  # an identity passes a ReLU's output through; it is no ReLU


def test_taps_equal_the_full_forward_pass(resnet8, x):
    model, variables = resnet8
    ref = flax_capture(model, variables, x)
    names = ["layer2.0.bn1", "layer1", "layer3.0.shortcut"]
    got = door.taps(model, variables, x, names + ["logits", "input"])
    assert list(got) == names + ["logits", "input"]
    for name in names:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["logits"], model.apply(variables, x), rtol=1e-5, atol=1e-5)
    assert got["input"] is x


def test_taps_stop_after_the_last_layer():
    """Variables without the head work for layers before it; the head is never traced."""
    model = SmallCNN()
    variables = models.init(model, jax.random.key(0))
    headless = {"params": {k: v for k, v in variables["params"].items() if k != "fc"},
                "batch_stats": variables["batch_stats"]}
    x = jnp.ones((2, 8, 8, 1))
    np.testing.assert_allclose(door.taps(model, headless, x, ["relu2"])["relu2"],
                               door.taps(model, variables, x, ["relu2"])["relu2"])
    with pytest.raises(ValueError, match="layer 'logits' is not among the layers of SmallCNN that its "
                                         "variables cover .up to 'pool'"):
        door.taps(model, headless, x, ["logits"])
    part = door.init_truncated(model, jax.random.key(0), ["relu1"], input_size=8)
    assert set(part["params"]) == {"conv1", "bn1"} and set(part["batch_stats"]) == {"bn1"}


def test_pre_relu_is_bn2_plus_shortcut(resnet8, x):
    model, variables = resnet8
    acts = door.taps(model, variables, x, ["layer2.0.bn2", "layer2.0.shortcut", "layer2.0"])
    pre = door.taps(model, variables, x, ["layer2.0", "layer2.0.conv1"], pre_relu=True)
    np.testing.assert_allclose(pre["layer2.0"], acts["layer2.0.bn2"] + acts["layer2.0.shortcut"],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.maximum(pre["layer2.0"], 0), acts["layer2.0"], atol=1e-6)
    assert float(jnp.min(pre["layer2.0"])) < 0
    conv = door.taps(model, variables, x, ["layer2.0.conv1"])["layer2.0.conv1"]
    np.testing.assert_array_equal(pre["layer2.0.conv1"], conv)  # not a ReLU's output: pre = post


def test_one_short_layer_error(resnet8, x):
    model, variables = resnet8
    with pytest.raises(ValueError) as err:
        door.taps(model, variables, x, ["layer4"])
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 400
    assert "'layer4'" in msg and "close matches: layer3" in msg and "lists all" in msg
    model20 = models.get("cifar_resnet20")
    g20 = door.graph(model20, models.init(model20, jax.random.key(0)), (32, 32, 3))
    with pytest.raises(ValueError, match="`jaxinterp layers --arch cifar_resnet20` lists all 62 layers"):
        g20.check(["layr3"])


def test_handlers_nest_and_the_graph_is_isolated(resnet8, x):
    """A cut replaces a module's output; linear mode makes ReLUs the identity. Building the layer
    graph inside both (from a cache miss) still records the real model."""
    model, variables = resnet8
    fn = door.subnetwork(model, variables, ["layer1"], "layer2.0.bn1", (32, 32, 3))
    h = door.taps(model, variables, x, ["layer1", "layer2.0.bn1"])
    np.testing.assert_allclose(jax.vmap(lambda a: fn((a,)))(h["layer1"]), h["layer2.0.bn1"], rtol=1e-5,
                               atol=1e-5)
    with door.linear_mode():
        lin = door.taps(model, variables, x, ["layer1.0"], pre_relu=True)["layer1.0"]
        other = CifarResNet(depth=14)  # never seen: its graph is built here, inside linear mode
        g = door.graph(other, jax.eval_shape(lambda k: other.init(k, x[:1]), jax.random.key(0)), (32, 32, 3))
    assert g["layer1.0"].relu  # recorded with the real ReLU
    assert float(jnp.min(lin)) < 0  # the identity let negatives through


def test_module_calls_stop_and_isolation(resnet8, x):
    """The mechanism itself: a handler sees every named call in call order and may end the pass
    (door.Stop); inside door.isolated() handlers installed outside it do not act."""
    model, variables = resnet8
    seen = []

    def record(call):
        out = call.run()
        seen.append((call.name, out.shape[1:]))
        if call.name == "layer1.0":
            raise door.Stop
        return out

    with door.module_calls(record):
        try:
            model.apply(variables, x)
        except door.Stop:
            pass
    g = door.graph(model, variables, (32, 32, 3))
    upto = g.names[1:g.index("layer1.0") + 1]
    assert [n for n, _ in seen] == list(upto) and all(s == g[n].shape for n, s in seen)
    seen.clear()
    with door.module_calls(record), door.isolated():
        model.apply(variables, x)
    assert seen == []


def test_redirected_relus_wake_a_silent_relu():
    """Inside door.redirected_relus every model ReLU has Lucid's gradient: an all-negative input
    gets a gradient that pushes it up; outside, the ReLU's gradient is zero."""
    from jaxinterp.models.base import relu

    x = -jnp.ones((1, 4))
    loss = lambda v: -jnp.sum(relu(v))  # noqa: E731 - minimised: wants v up
    assert float(jnp.abs(jax.grad(loss)(x)).sum()) == 0.0
    with door.redirected_relus(jnp.float32(1.0)):
        g = jax.grad(loss)(x)
    np.testing.assert_array_equal(g, jax.grad(lambda v: -jnp.sum(door.redirected_relu(v, jnp.float32(1.0))))(x))
    assert float(g.sum()) < 0  # a descent step raises the input


def analytic_field(depth):
    """(start, size, stride) of position 0 of layer1..3 of a CIFAR ResNet of ``depth``: the
    textbook recursion over its 3x3, padding-1 convs (the option-A shortcut sees a subset)."""
    blocks = (depth - 2) // 6
    start, size, jump = -1, 3, 1  # the stem conv
    out = {}
    for stage, stride in ((1, 1), (2, 2), (3, 2)):
        for b in range(blocks):
            for conv in (0, 1):
                start -= jump
                size += 2 * jump
                jump *= stride if (b == 0 and conv == 0) else 1
        out[f"layer{stage}"] = (start, size, jump)
    return out


@pytest.mark.parametrize("depth,layer", [(56, "layer1"), (56, "layer2"), (20, "layer3")])
def test_receptive_fields_of_any_width(depth, layer):
    """ResNet-56's fields are 39 / 109 px on a 32-px image; measured whole, never cut."""
    model = CifarResNet(depth=depth)
    variables = jax.eval_shape(lambda k: model.init(k, jnp.zeros((1, 32, 32, 3))), jax.random.key(0))
    variables = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), variables)
    rf = door.receptive_field(model, variables, layer, (32, 32, 3))
    start, size, stride = analytic_field(depth)[layer]
    assert rf.size == (size, size) and rf.stride == (stride, stride) and not rf.clipped
    assert rf.offset == (start, start) and rf.box[0] == start + rf.at[0] * stride


def test_positions_have_one_spelling():
    a = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    np.testing.assert_array_equal(door.positions.read(a, "centre"), a[:, 2, 2])
    np.testing.assert_array_equal(door.positions.read(a, (1, 3)), a[:, 1, 3])
    np.testing.assert_allclose(door.positions.read(a, "mean"), a.mean((1, 2)))
    np.testing.assert_array_equal(door.positions.read(a, "max"), a.max((1, 2)))
    assert door.positions.read(a, "all") is a
    with pytest.raises(ValueError, match="spells it 'centre'"):
        door.positions.check("center")
    with pytest.raises(ValueError, match="outside"):
        door.positions.check((4, 0), (4, 4, 3))


def test_only_the_door_intercepts():
    """No module outside jaxinterp/door calls Flax's interceptors or capture_intermediates."""
    out = subprocess.run(["grep", "-rln", "-e", "intercept_methods", "-e", "capture_intermediates",
                          str(REPO / "jaxinterp")], capture_output=True, text=True).stdout.split()
    assert {Path(p).relative_to(REPO).as_posix() for p in out} <= {"jaxinterp/door/_hooks.py"}, out
