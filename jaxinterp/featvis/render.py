"""The optimisation loop: ``render(key, model, variables, objective, param, transforms)``.

One jitted ``lax.scan`` over the steps: image_fn -> transforms -> ``model.normalize``
-> :func:`jaxinterp.door.taps` -> objective, Adam (lr 0.05) on ``-objective``.
For the first ``redirect_steps`` steps (Lucid: 16) every ReLU of the model has Lucid's
redirected gradient (:func:`jaxinterp.door.redirected_relu`), so units that start silent still get a
gradient. Every ``flax.linen.Conv`` is computed by :mod:`~jaxinterp.door.fastconv`
(same values, an input gradient XLA runs about 10x faster inside a loop on CPU).
Images are kept at ``thresholds`` (numbers of updates done)::

    params, image_fn = param.image(key, 32, batch=64)
    out = render(key, model, variables, objectives.channels("layer3", range(64)),
                 (params, image_fn), transforms.cifar(), steps=512)
    out.images[-1]        # [64, 32, 32, 3] in [0, 1], one image per unit

The compiled program is cached on the *structure* of its inputs (model, objective
kind and layers, parametrisation, transforms, optimiser, steps), so rendering unit 3
after unit 2 reuses the program: unit indices and direction vectors are data.
"""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax

from jaxinterp import door
from jaxinterp.featvis import transforms as transforms_lib
from jaxinterp.featvis.objectives import Objective

DEFAULT_OPTIMIZER = optax.adam(0.05)


class Rendered(NamedTuple):
    """images: [len(thresholds), b, h, w, c] in [0, 1]; thresholds: updates done at each;
    values: [steps] objective before each update (under that step's transforms);
    params: the final parameters."""

    images: jax.Array
    thresholds: tuple
    values: jax.Array
    params: jax.Array


def layer_shapes(model, variables, image_fn, transforms, params, layers: Sequence[str]) -> dict:
    """``{layer: shape}`` the objective will see (``"input"``: the untransformed image)."""
    key = jax.random.key(0)

    def shapes(p, v):
        img = image_fn(p)
        x = model.normalize(transforms(key, img))
        wanted = [name for name in layers if name != "input"]
        acts = door.taps(model, v, x, wanted) if wanted else {}
        return {**acts, "input": img}

    out = jax.eval_shape(shapes, params, variables)
    return {name: tuple(a.shape) for name, a in out.items()}


@functools.lru_cache(maxsize=16)
def _program(model, objective: Objective, image_fn, transforms, optimizer, steps: int,
             thresholds: tuple, redirect_steps: int):
    layers = [name for name in objective.layers if name != "input"]
    thr = jnp.asarray(thresholds, jnp.int32)

    def loss_fn(p, variables, args, key, redirect):
        img = image_fn(p)
        x = model.normalize(transforms(key, img))
        with contextlib.ExitStack() as stack:
            stack.enter_context(door.fast_convs())  # ~10x faster input gradients in scan on CPU
            if redirect_steps > 0:
                stack.enter_context(door.redirected_relus(redirect))
            acts = door.taps(model, variables, x, layers) if layers else {}
        value = objective.fn({**acts, "input": img}, args)
        return -value, (value, img)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    @jax.jit
    def run(key, variables, params, args):
        img0 = image_fn(params)
        buf = jnp.zeros((len(thresholds),) + img0.shape, img0.dtype)

        def step(carry, t):
            p, state, buf = carry
            redirect = (t < redirect_steps).astype(jnp.float32)
            (_, (value, img)), g = grad_fn(p, variables, args, jax.random.fold_in(key, t), redirect)
            buf = jnp.where((thr == t).reshape((-1,) + (1,) * img.ndim), img[None], buf)
            updates, state = optimizer.update(g, state, p)
            return (optax.apply_updates(p, updates), state, buf), value

        (p, _, buf), values = jax.lax.scan(step, (params, optimizer.init(params), buf),
                                           jnp.arange(steps, dtype=jnp.int32))
        final = image_fn(p)
        buf = jnp.where((thr == steps).reshape((-1,) + (1,) * final.ndim), final[None], buf)
        return buf, values, p

    return run


def render(key: jax.Array, model, variables, objective: Objective, param, transforms=None,
           steps: int = 512, optimizer: optax.GradientTransformation = DEFAULT_OPTIMIZER,
           thresholds: Sequence[int] | None = None, redirect_steps: int = 16) -> Rendered:
    """Optimise the images of ``param`` to maximise ``objective`` on ``model``.

    Args:
      key: PRNG key of the transforms (one fold per step).
      model, variables: an :class:`~jaxinterp.models.base.ImageModel` and its variables.
      objective: an :class:`~jaxinterp.featvis.objectives.Objective`.
      param: ``(params, image_fn)`` from :mod:`jaxinterp.featvis.param`.
      transforms: a transform (``transforms.cifar()``); None means Lucid's ``standard()``.
      steps: optimiser updates (Lucid: 512).
      optimizer: an optax transformation (Lucid: Adam, lr 0.05).
      thresholds: numbers of updates after which to keep the images (default ``(steps,)``).
      redirect_steps: steps with redirected ReLU gradients (Lucid: 16; 0 turns it off).

    Returns:
      :class:`Rendered`.
    """
    if not isinstance(objective, Objective):
        raise ValueError(f"objective must be an Objective (objectives.channel(...)), got "
                         f"{type(objective).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be a positive number of updates, got {steps}")
    thresholds = tuple(sorted({int(t) for t in (thresholds or (steps,))}))
    if thresholds[0] < 0 or thresholds[-1] > steps:
        raise ValueError(f"thresholds must lie in 0..{steps} (updates done), got {thresholds}")
    params, image_fn = param
    transforms = transforms_lib.standard() if transforms is None else transforms
    objective.check(layer_shapes(model, variables, image_fn, transforms, params, objective.layers))
    program = _program(model, objective, image_fn, transforms, optimizer, int(steps), thresholds,
                       int(redirect_steps))
    images, values, final = program(key, variables, params, objective.args)
    return Rendered(images, thresholds, values, final)
