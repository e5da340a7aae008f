"""The structured per-channel input gradients equal autodiff of the Flax model."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import neurons
from jaxinterp.neurons import channel_gradients as cg
from tests.eight_devices import run_on_eight_devices


class Stage(nn.Module):
    """Stem conv-BN-ReLU and two identity basic blocks, PyTorch names (conv1, bn1, layer1.0 ...)."""

    width: int = 6

    @nn.compact
    def __call__(self, x):
        bn = lambda name: nn.BatchNorm(use_running_average=True, epsilon=1e-5, name=name)
        conv = lambda name: nn.Conv(self.width, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name=name)

        class Block(nn.Module):
            @nn.compact
            def __call__(self, s):
                h = nn.relu(bn("bn1")(conv("conv1")(s)))
                return nn.relu(bn("bn2")(conv("conv2")(h)) + s)

        s = nn.relu(bn("bn1")(conv("conv1")(x)))
        for i in range(2):
            s = Block(name=f"block{i}")(s)
        return s


def _variables(model, rng):
    variables = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))

    def randomise(path, leaf):
        name = jax.tree_util.keystr(path)
        if "var" in name or "scale" in name:
            return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape), jnp.float32)
        if "mean" in name or "bias" in name:
            return jnp.asarray(rng.normal(0, 0.2, leaf.shape), jnp.float32)
        return leaf

    return jax.tree_util.tree_map_with_path(randomise, dict(variables))


@pytest.mark.parametrize("n_blocks,width,dense_conv", [
    (1, 6, None),  # width 6: the GEMM path for every backward conv
    (1, 12, "winograd"), (2, 12, "winograd"), (2, 12, "direct"),  # width 12: the dense conv path
])
def test_equals_autodiff(rng, n_blocks, width, dense_conv):
    model = Stage(width)
    variables = _variables(model, rng)
    x = jnp.asarray(rng.normal(size=(3, 8, 8, 3)), jnp.float32)
    names = tuple(f"block{i}" for i in range(n_blocks))
    stem, blocks = cg.from_variables(variables, blocks=names)
    # chunk 5 does not divide the 3 x width pairs
    ours = cg.channel_mean_gradients(stem, blocks, x, chunk=5, dense_conv=dense_conv)

    def fn(a):  # the model truncated after n_blocks, through autodiff
        _, state = model.apply(variables, a[None], capture_intermediates=True, mutable=["intermediates"])
        return state["intermediates"][names[-1]]["__call__"][0][0]

    ref = neurons.input_gradients(fn, x)
    assert ours.shape == ref.shape == (3, width, 8, 8, 3)
    assert float(jnp.linalg.norm(ours - ref) / jnp.linalg.norm(ref)) < 1e-5


def test_refuses_channel_changing_block(rng):
    model = Stage()
    variables = _variables(model, rng)
    variables["params"]["block0"]["conv2"]["kernel"] = jnp.zeros((3, 3, 6, 4))
    with pytest.raises(ValueError, match="not an identity block"):
        cg.from_variables(variables, blocks=("block0",))
    stem, _ = cg.from_variables(_variables(model, rng), blocks=())
    with pytest.raises(ValueError, match="at least one block"):
        cg.channel_mean_gradients(stem, (), jnp.zeros((1, 8, 8, 3)))


def test_refuses_bad_options(rng):
    model = Stage()
    stem, blocks = cg.from_variables(_variables(model, rng), blocks=("block0",))
    x = jnp.zeros((1, 8, 8, 3))
    with pytest.raises(ValueError, match="dense_conv must be one of"):
        cg.channel_mean_gradients(stem, blocks, x, dense_conv="fft")
    with pytest.raises(ValueError, match="chunk must be a positive"):
        cg.channel_mean_gradients(stem, blocks, x, chunk=0)


SHARDED = """
import sys
import jax, jax.numpy as jnp, numpy as np
from tests.neurons.test_channel_gradients import Stage, _variables
from jaxinterp.neurons import channel_gradients as cg
from jaxinterp import parallel
assert jax.device_count() == 8, jax.devices()
rng = np.random.default_rng(0)
model = Stage(12)
stem, blocks = cg.from_variables(_variables(model, rng), blocks=("block0", "block1"))
x = jnp.asarray(rng.normal(size=(5, 8, 8, 3)), jnp.float32)  # 5 images: padded to 8
sharded = cg.channel_mean_gradients(stem, blocks, x, chunk=4)
assert len(sharded.sharding.device_set) == 8, sharded.sharding
one = cg.channel_mean_gradients(stem, blocks, x, chunk=4, mesh=parallel.local_mesh(jax.devices()[:1]))
np.savez(sys.argv[1], sharded=np.asarray(sharded), one=np.asarray(one))
"""


def test_eight_devices_equal_one(tmp_path):
    got = run_on_eight_devices(SHARDED, tmp_path / "grads.npz")
    assert got["sharded"].shape == (5, 12, 8, 8, 3)
    np.testing.assert_allclose(got["sharded"], got["one"], rtol=1e-5, atol=1e-7)
    # and both equal this process's single-device run
    rng = np.random.default_rng(0)  # the subprocess's draws, in its order
    stem, blocks = cg.from_variables(_variables(Stage(12), rng), blocks=("block0", "block1"))
    x = jnp.asarray(rng.normal(size=(5, 8, 8, 3)), jnp.float32)
    ref = cg.channel_mean_gradients(stem, blocks, x, chunk=4)
    np.testing.assert_allclose(got["sharded"], np.asarray(ref), rtol=1e-5, atol=1e-7)
