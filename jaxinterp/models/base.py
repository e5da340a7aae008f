"""The model interface every jaxinterp model follows.

A model is a Flax ``linen`` module whose submodules are named exactly like the
PyTorch modules they port (``conv1``, ``layer1`` > ``0`` > ``conv2``,
``features`` > ``3``). Any submodule's output can then be asked for by its
PyTorch name (``"layer1.0.conv2"``) without the model knowing which layers a
user wants: :func:`forward` uses Flax's ``capture_intermediates`` with a filter,
and under ``jit`` every layer that was not asked for is dead code.

Each model class also declares its input convention as class variables:
``MEAN``, ``STD`` (per channel, applied to images in [0, 1]), ``IN_CHANNELS``
and ``INPUT_SIZE`` (the spatial size it was trained at).
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, ClassVar, Mapping, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

Variables = Mapping[str, Any]


_RELU: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("jaxinterp_relu", default=None)


def relu(x: jax.Array) -> jax.Array:
    """Every ReLU of every model goes through here: ``nn.relu`` unless :func:`relu_override` is active.

    One entry point lets feature visualisation swap the ReLU's gradient (Lucid's
    redirected ReLU) in all models at trace time without touching their numbers.
    """
    override = _RELU.get()
    return nn.relu(x) if override is None else override(x)


def active_relu() -> Callable[[jax.Array], jax.Array]:
    """The function model ReLUs call right now (``nn.relu`` outside :func:`relu_override`)."""
    return _RELU.get() or nn.relu


@contextlib.contextmanager
def relu_override(fn: Callable[[jax.Array], jax.Array]):
    """Within this block (while tracing), every model ReLU calls ``fn(x)`` instead of ``nn.relu``."""
    token = _RELU.set(fn)
    try:
        yield
    finally:
        _RELU.reset(token)


class ReLU(nn.Module):
    """``torch.nn.ReLU`` as a module, so that its output has a name to capture."""

    @nn.compact
    def __call__(self, x):
        return relu(x)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageModel(nn.Module):
    """Base class: ``__call__(x, train=False)`` maps normalised NHWC images to logits."""

    MEAN: ClassVar[tuple[float, ...]] = (0.0, 0.0, 0.0)
    STD: ClassVar[tuple[float, ...]] = (1.0, 1.0, 1.0)
    IN_CHANNELS: ClassVar[int] = 3
    INPUT_SIZE: ClassVar[int | None] = None

    def normalize(self, images01: jax.Array) -> jax.Array:
        """[n, h, w, c] images in [0, 1] -> the model's normalised input."""
        mean = jnp.asarray(self.MEAN, images01.dtype)
        std = jnp.asarray(self.STD, images01.dtype)
        return (images01 - mean) / std


class ImageNetModel(ImageModel):
    """An RGB model of torchvision's ImageNet family: ImageNet mean/std, 224×224 inputs."""

    MEAN: ClassVar[tuple[float, ...]] = IMAGENET_MEAN
    STD: ClassVar[tuple[float, ...]] = IMAGENET_STD
    INPUT_SIZE: ClassVar[int | None] = 224


def _path_name(module: nn.Module) -> str:
    return ".".join(module.scope.path)


def _flatten_intermediates(tree: Mapping, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if key == "__call__":
            (val,) = value[-1:]  # a module called twice keeps its last output, like a torch hook
            out[".".join(prefix)] = val
        else:
            out.update(_flatten_intermediates(value, prefix + (key,)))
    return out


def forward(
    model: ImageModel,
    variables: Variables,
    x: jax.Array,
    layers: Sequence[str] = (),
    *,
    train: bool = False,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Run ``model`` on normalised images and return ``(logits, {layer: activation})``.

    Args:
      model: an :class:`ImageModel`.
      variables: ``{"params": ..., "batch_stats": ...}``.
      x: [n, h, w, c] normalised images (see :meth:`ImageModel.normalize`).
      layers: PyTorch-style names, e.g. ``["layer1", "layer1.0.conv2"]``.
        ``"input"`` returns ``x`` itself and ``"logits"`` the output.

    Returns:
      logits [n, classes] and a dict of [n, h', w', c'] (or [n, c']) activations.
    """
    layers = tuple(layers)
    wanted = {name for name in layers if name not in ("input", "logits")}
    if not wanted:
        logits = model.apply(variables, x, train=train)
        state = {}
    else:
        def keep(module, method_name):
            return method_name == "__call__" and _path_name(module) in wanted

        logits, state = model.apply(
            variables, x, train=train, capture_intermediates=keep, mutable=["intermediates"]
        )
    found = _flatten_intermediates(state.get("intermediates", {}))
    found["input"] = x
    found["logits"] = logits
    missing = [name for name in layers if name not in found]
    if missing:
        raise ValueError(
            f"unknown layer name(s) {missing}. Available layers: "
            f"{', '.join(layer_names(model, variables, x.shape))}"
        )
    return logits, {name: found[name] for name in layers}


def layer_names(model: ImageModel, variables: Variables, input_shape: Sequence[int]) -> list[str]:
    """Every capturable layer name of ``model``, in the order the forward pass meets them."""
    order: list[str] = []

    def keep(module, method_name):
        if method_name == "__call__":
            name = _path_name(module)
            if name and name not in order:
                order.append(name)
        return False

    x = jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32)
    jax.eval_shape(
        lambda v, x: model.apply(v, x, capture_intermediates=keep, mutable=["intermediates"]),
        variables,
        x,
    )
    # children are entered before they return: order by first call is parent-first,
    # which reads naturally ("layer1", "layer1.0", "layer1.0.conv1", ...).
    return ["input", *order, "logits"]


def layer_shapes(
    model: ImageModel, variables: Variables, input_shape: Sequence[int]
) -> dict[str, tuple[int, ...]]:
    """``{layer: activation shape}`` for an input of ``input_shape`` ([n, h, w, c])."""
    names = layer_names(model, variables, input_shape)
    x = jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32)
    _, acts = jax.eval_shape(lambda v, x: forward(model, v, x, names), variables, x)
    return {name: tuple(acts[name].shape) for name in names}


def init(model: ImageModel, key: jax.Array, input_size: int | None = None) -> dict:
    """Random initial variables for ``model`` (for tests and training from scratch)."""
    size = input_size or model.INPUT_SIZE or 32
    x = jnp.zeros((1, size, size, model.IN_CHANNELS), jnp.float32)
    return dict(model.init(key, x, train=False))
