"""The three input levels of METHODS.md §5 for a stage of a CIFAR/torchvision ResNet.

For stage ``layerK`` with blocks ``layerK.0 .. layerK.(B-1)`` (basic blocks:
``relu(bn2(conv2(relu(bn1(conv1 s)))) + s)``):

* immediate: g = relu(bn1 output) of the last block through its 3×3 conv2
  window, and the skip s (the last block's input) at the centre; the
  pre-activation is exactly affine in (g window, s);
* window (stage): the stage input (``relu(bn1)`` of the stem for ``layer1``,
  otherwise the previous stage), through a window as wide as the stage's
  receptive field;
* pixels: the normalised image through the receptive field of the whole
  network up to the layer.

Only stride-1 stages are supported for the window levels (``layer1`` of the
CIFAR ResNets); later stages downsample in their first block.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.capture import capture
from jaxinterp.door.cut import subnetwork
from jaxinterp.data.checks import to_unit_float
from jaxinterp.door import graph
from jaxinterp.models.base import ImageModel
from jaxinterp.neurons.levels import Level, make_level, receptive_field


def _odd(k: int) -> int:
    return k if k % 2 else k + 1


def _stage_parts(model, variables, layer, shape):
    g = graph(model, variables, shape)
    g.check([layer])
    names = g.names
    blocks = sorted(int(n.split(".")[1]) for n in names
                    if n.startswith(layer + ".") and n.count(".") == 1 and n.split(".")[1].isdigit())
    if not blocks or f"{layer}.{blocks[-1]}.bn1" not in names:
        raise ValueError(
            f"{layer!r} is not a ResNet stage of basic blocks ({layer}.0.bn1 ...); the immediate "
            "and window levels need one. Use the generic pixel level (jaxinterp.neurons.pixel_level)"
        )
    last = f"{layer}.{blocks[-1]}"
    skip = f"{layer}.{blocks[-2]}" if len(blocks) > 1 else None
    stage_in = "bn1" if layer == "layer1" else f"layer{int(layer[5:]) - 1}"
    return names, last, skip, stage_in


def resnet_levels(model: ImageModel, variables, images, layer: str = "layer1",
                  levels=("immediate", "window", "pixels"), batch_size: int = 128) -> tuple[dict, jax.Array]:
    """Build the levels of a ResNet stage on ``images`` ([n, H, W, 3] uint8 or [0, 1] float).

    Returns:
      ``({level name: Level}, outputs [n, h, w, N])`` with ``outputs`` the captured layer.
    """
    shape = tuple(images.shape[1:])
    names, last, skip, stage_in = _stage_parts(model, variables, layer, shape)
    if skip is None:
        raise ValueError(f"{layer!r} has a single block; the immediate level needs its input block")
    wanted = [layer, f"{last}.bn1", skip, stage_in]
    acts = capture(model, variables, images, wanted, position="all", progress=False,
                   batch_size=batch_size)
    relu = lambda a: jnp.maximum(jnp.asarray(a), 0.0)
    out = jnp.asarray(acts[layer])
    if out.shape[1:3] != acts[stage_in].shape[1:3]:
        raise ValueError(f"{layer!r} changes the spatial size; only stride-1 stages (layer1) are supported")
    result = {}
    if "immediate" in levels:
        fn = subnetwork(model, variables, [f"{last}.bn1", skip], layer, shape)
        result["immediate"] = make_level("immediate", (relu(acts[f"{last}.bn1"]), jnp.asarray(acts[skip])),
                                         (3, 1), fn)
    if "window" in levels:
        stage = relu(acts[stage_in]) if stage_in == "bn1" else jnp.asarray(acts[stage_in])
        fn = subnetwork(model, variables, [stage_in], layer, shape)
        k = _odd(receptive_field(lambda s: fn((s,)), stage.shape[1:]))
        result["window"] = make_level("window", (stage,), (k,), fn)
    if "pixels" in levels:
        result["pixels"] = pixel_level(model, variables, images, layer)
    return result, out


def pixel_level(model: ImageModel, variables, images, layer: str) -> Level:
    """Level whose inputs are the normalised image's receptive-field patch (any model)."""
    x = model.normalize(jnp.asarray(to_unit_float(np.asarray(images))))
    fn = subnetwork(model, variables, ["input"], layer, x.shape[1:])
    out_shape = jax.eval_shape(lambda a: fn((a,)), x[0]).shape
    if len(out_shape) != 3:
        raise ValueError(
            f"layer {layer!r} has no spatial axes (output shape {out_shape}); the pixel and window "
            "levels need a convolutional layer [h, w, channels]"
        )
    stride = x.shape[1] // out_shape[0]
    k = _odd(receptive_field(lambda a: fn((a,)), x.shape[1:]))
    return make_level("pixels", (x,), (k,), fn, (stride,))
