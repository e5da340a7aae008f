"""The optimisation loop: ``render(key, model, variables, objective, param, transforms)``.

image_fn -> transforms -> ``model.normalize`` -> :func:`jaxinterp.door.taps` -> objective,
Adam (lr 0.05) on ``-objective``, one step after another inside one compiled loop.
For the first ``redirect_steps`` steps (Lucid: 16) every ReLU of the model has Lucid's
redirected gradient (:func:`jaxinterp.door.redirected_relu`), so units that start silent still get a
gradient. Every ``flax.linen.Conv`` is computed by :mod:`~jaxinterp.door.fastconv`
(same values, an input gradient XLA runs about 10x faster inside a loop on CPU).
Images are kept at ``thresholds`` (numbers of updates done)::

    params, image_fn = param.image(key, 32, batch=64)
    out = render(key, model, variables, objectives.channels("layer3", range(64)),
                 (params, image_fn), transforms.cifar(), steps=512,
                 progress=lambda done, value: print(done, value))
    out.images[-1]        # [64, 32, 32, 3] in [0, 1], one image per unit

The loop runs ``steps_per_call`` steps per dispatch of one compiled program whose loop bounds
are data: after each call ``progress`` hears how far it got, and Ctrl-C lands between calls
(one 12-minute XLA call could not be interrupted until it returned). Every call runs the same
executable on the carried state, so the images equal one uninterrupted loop bit for bit,
whatever ``steps_per_call``. The host waits on a call only while the next one is queued, so
the device never idles: 32 steps per call cost one dispatch and one scalar copied to the host,
under 2% of the steps' time on a 2-core CPU (ResNet-20, 64 units); a ``jax.debug.callback``
in the loop body would instead stop the loop at every step.

The compiled program is cached on the *structure* of its inputs (model, objective
kind and layers, parametrisation, transforms, optimiser, steps), so rendering unit 3
after unit 2 reuses the program: unit indices and direction vectors are data.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinterp import _optax, door
from jaxinterp.featvis import transforms as transforms_lib
from jaxinterp.featvis.objectives import Objective

DEFAULT_OPTIMIZER = optax.adam(0.05)
STEPS_PER_CALL = 32


class Rendered(NamedTuple):
    """images: [len(thresholds), b, h, w, c] in [0, 1]; thresholds: updates done at each;
    values: [steps] objective before each update (under that step's transforms);
    params: the final parameters."""

    images: jax.Array
    thresholds: tuple
    values: jax.Array
    params: jax.Array


class Program(NamedTuple):
    """The compiled loop of one render setting (see :func:`_program`).

    start(params) -> carry; advance(key, variables, args, carry, lo, hi) -> (carry after steps
    lo..hi-1, the objective before the last of them) (``carry`` is donated); finish(carry) ->
    (images, values, params)."""

    start: Callable
    advance: Callable
    finish: Callable


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
             thresholds: tuple, redirect_steps: int, pre_relu: bool = False) -> Program:
    layers = [name for name in objective.layers if name != "input"]
    thr = jnp.asarray(thresholds, jnp.int32)

    def loss_fn(p, variables, args, key, redirect):
        img = image_fn(p)
        x = model.normalize(transforms(key, img))
        with contextlib.ExitStack() as stack:
            stack.enter_context(door.fast_convs())  # ~10x faster input gradients in a loop on CPU
            if redirect_steps > 0:
                stack.enter_context(door.redirected_relus(redirect))
            acts = door.taps(model, variables, x, layers, pre_relu=pre_relu) if layers else {}
        value = objective.fn({**acts, "input": img}, args)
        return -value, (value, img)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def keep(buf, t, img):
        return jnp.where((thr == t).reshape((-1,) + (1,) * img.ndim), img[None], buf)

    @jax.jit
    def start(params):
        img0 = image_fn(params)
        buf = jnp.zeros((len(thresholds),) + img0.shape, img0.dtype)
        own = jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), params)  # advance donates it
        return own, optimizer.init(params), buf, jnp.zeros((steps,), jnp.float32)

    @functools.partial(jax.jit, donate_argnums=(3,))
    def advance(key, variables, args, carry, lo, hi):
        def step(t, carry):
            p, state, buf, values = carry
            redirect = (t < redirect_steps).astype(jnp.float32)
            (_, (value, img)), g = grad_fn(p, variables, args, jax.random.fold_in(key, t), redirect)
            p, state = _optax.step(optimizer, g, state, p)
            return (p, state, keep(buf, t, img),
                    values.at[t].set(value.astype(jnp.float32)))

        carry = jax.lax.fori_loop(lo, hi, step, carry)   # bounds are data: one executable for any chunk
        return carry, carry[3][hi - 1]

    @jax.jit
    def finish(carry):
        p, _, buf, values = carry
        return keep(buf, steps, image_fn(p)), values, p

    return Program(start, advance, finish)


def _heard(progress, done_value) -> None:
    done, value = done_value
    value = float(value)  # waits for that call
    if progress is not None:
        progress(done, value)


def render(key: jax.Array, model, variables, objective: Objective, param, transforms=None,
           steps: int = 512, optimizer: optax.GradientTransformation = DEFAULT_OPTIMIZER,
           thresholds: Sequence[int] | None = None, redirect_steps: int = 16, pre_relu: bool = False,
           steps_per_call: int = STEPS_PER_CALL,
           progress: Callable[[int, float], None] | None = None) -> Rendered:
    """Optimise the images of ``param`` to maximise ``objective`` on ``model``.

    Args:
      key: PRNG key of the transforms (one fold per step).
      model, variables: an :class:`~jaxinterp.models.base.ImageModel` and its variables.
      objective: an :class:`~jaxinterp.featvis.objectives.Objective`.
      param: ``(params, image_fn)`` from :mod:`jaxinterp.featvis.param`
        (:func:`~jaxinterp.featvis.param.for_model` gives the command's defaults for ``model``).
      transforms: a transform; None means :func:`jaxinterp.featvis.transforms.for_model` at the
        rendered image's side, as the command does: ``cifar()`` up to 64 px, Lucid's
        ``standard()`` above.
      steps: optimiser updates (Lucid: 512).
      optimizer: an optax transformation (Lucid: Adam, lr 0.05).
      thresholds: numbers of updates after which to keep the images (default ``(steps,)``).
      redirect_steps: steps with redirected ReLU gradients (Lucid: 16; 0 turns it off).
      pre_relu: the objective reads its layers before their ReLU (for minimising a unit: after
        the ReLU a suppressed unit is 0 and has no gradient).
      steps_per_call: steps per dispatch of the compiled loop (the images do not depend on it).
      progress: ``progress(done, value)`` after each call: updates done and the objective
        before the last of them.

    Returns:
      :class:`Rendered`.
    """
    if not isinstance(objective, Objective):
        raise ValueError(f"objective must be an Objective (objectives.channel(...)), got "
                         f"{type(objective).__name__}")
    if steps < 1 or steps_per_call < 1:
        raise ValueError(f"steps and steps_per_call must be positive numbers of updates, got {steps} "
                         f"and {steps_per_call}")
    thresholds = tuple(sorted({int(t) for t in (thresholds or (steps,))}))
    if thresholds[0] < 0 or thresholds[-1] > steps:
        raise ValueError(f"thresholds must lie in 0..{steps} (updates done), got {thresholds}")
    params, image_fn = param
    if transforms is None:
        side = jax.eval_shape(image_fn, params).shape[1]
        transforms = transforms_lib.for_model(model, side)
    objective.check(layer_shapes(model, variables, image_fn, transforms, params, objective.layers))
    program = _program(model, objective, image_fn, transforms, optimizer, int(steps), thresholds,
                       int(redirect_steps), bool(pre_relu))
    carry, behind = program.start(params), None
    for lo in range(0, steps, steps_per_call):
        hi = min(lo + steps_per_call, steps)
        carry, value = program.advance(key, variables, objective.args, carry, np.int32(lo), np.int32(hi))
        ahead = (hi, value)
        if behind is not None:  # the call before: waiting on it keeps one call queued, so the
            _heard(progress, behind)  # device never idles, and Ctrl-C lands between calls
        behind = ahead
    _heard(progress, behind)
    images, values, final = program.finish(carry)
    return Rendered(images, thresholds, values, final)
