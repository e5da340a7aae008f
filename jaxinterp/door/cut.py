"""One way of cutting a model: sub-networks between named layers, and the linearised network.

``subnetwork(model, variables, inputs=["layer1.1", "layer1.2.bn1"], output="layer1")``
returns ``fn(tuple of one image's tensors) -> output [h, w, N]``: the model is
run with the named modules' outputs *replaced* by the given tensors (Flax
module-call handler of :mod:`jaxinterp.door._hooks`), so everything upstream of them is dead
code under jit.
Replacing a module whose output the model passes through a ReLU by a
non-negative tensor (a captured post-ReLU map) leaves that ReLU the identity,
which is how levels start "after" a functional ReLU.

``with linear_mode(): ...`` traces any jaxinterp model as the *linearised*
network of METHODS §6.5: every model ReLU (they all go through
:func:`jaxinterp.models.base.relu`) is the identity and every
:class:`~jaxinterp.models.layers.MaxPool2d` averages over the same windows
(:func:`average_pool`). BatchNorm in eval mode is affine and stays, so the
network is an affine map of any replaced tensor. :func:`linearized` wraps a
function so that it is always traced that way.

:func:`dependence` is where a unit looks: the positions of an upstream map it depends on
(receptive fields, the window of expanded weights).

:func:`check_cut` gives the clear errors every user of a cut needs: unknown layer names
(with close matches), a module called more than once (its output cannot be replaced by one
tensor), and layers in the wrong order.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from jaxinterp.door._hooks import max_pool_override, module_calls, relu_override
from jaxinterp.door.graph import graph
from jaxinterp.door.taps import taps
from jaxinterp.models.base import ImageModel


def average_pool(x: Float[Array, " n h w c"], window, strides, pads) -> Float[Array, " n h2 w2 c"]:
    """The linear stand-in for a max-pool: the mean over each window's positions inside the map.

    Positions in the padding are left out of the mean (a max-pool pads with ``-inf``, so
    they never take part there either); [n, h, w, c] -> [n, h', w', c].
    """
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pads)
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pads)
    return total / count


@contextlib.contextmanager
def linear_mode():
    """Trace models as the linearised network: ReLU -> identity, MaxPool2d -> :func:`average_pool`.

    BatchNorm (eval mode) and everything else are unchanged. Only what is *traced* inside
    the block is affected: call (or first call) a jitted function inside it.
    """
    with relu_override(lambda x: x), max_pool_override(average_pool):
        yield


def linearized(fn: Callable) -> Callable:
    """``fn`` traced under :func:`linear_mode` (ReLUs identity, max-pools averaged)."""

    def wrapped(*args, **kwargs):
        with linear_mode():
            return fn(*args, **kwargs)

    return wrapped


def subnetwork(
    model: ImageModel,
    variables,
    inputs: Sequence[str],
    output: str,
    input_shape: Sequence[int],
) -> Callable:
    """fn(parts) -> [h, w, N]: ``output`` as a function of the named modules' outputs.

    Args:
      model, variables: the network.
      inputs: module names whose outputs become the arguments (in order), or
        ``"input"`` for the normalised image itself.
      output: the layer whose activation is returned.
      input_shape: [H, W, C] of the model's image input (for the dummy image).
    """
    inputs = tuple(inputs)
    g = graph(model, variables, input_shape)
    g.check(inputs)
    g.check([output])

    def fn(parts):
        parts = tuple(parts)
        if len(parts) != len(inputs):
            raise ValueError(f"expected {len(inputs)} tensors for {inputs}, got {len(parts)}")
        named = {name: p[None] for name, p in zip(inputs, parts) if name != "input"}
        x = parts[inputs.index("input")][None] if "input" in inputs else jnp.zeros((1, *input_shape))

        def replace(call):
            return named[call.name] if call.name in named else call.run()

        with module_calls(replace):
            return taps(model, variables, x, [output])[output][0]

    return fn


def dependence(model: ImageModel, variables, source: str, target: str,
               source_value: Float[Array, " h w c"], positions: Int[ArrayLike, " p 2"] | None = None,
               input_shape: Sequence[int] | None = None) -> Bool[Array, " p h w"]:
    """[P, h, w] bool: the positions of ``source`` that each target position depends on.

    The support of ∂ target(position) / ∂ source through the linearised network with every
    parameter set to one, so all paths are positive and nothing cancels. Traceable (call it
    under ``jit``).

    Args:
      source_value: [h, w, C] one source tensor (its value does not matter: the map is affine).
      positions: [P, 2] (row, col) target positions, summed over channels; None for a target
        without spatial axes (P = 1, every unit).
      input_shape: [H, W, C] of the model input (default ``source_value``'s, for ``"input"``).
    """
    ones = jax.tree_util.tree_map(jnp.ones_like, variables)
    fn = subnetwork(model, ones, [source], target, tuple(input_shape or source_value.shape))

    def out(s):
        with linear_mode():
            a = fn((s,))
        return jnp.sum(a)[None] if positions is None else a[positions[:, 0], positions[:, 1]].sum(-1)

    p = 1 if positions is None else positions.shape[0]
    _, pullback = jax.vjp(out, source_value)
    (g,) = jax.vmap(pullback)(jnp.eye(p, dtype=source_value.dtype))
    return jnp.any(g != 0, axis=-1)


def check_cut(model: ImageModel, variables, source: str, target: str, input_shape: Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``source`` is a layer computed before ``target`` (and called once)."""
    graph(model, variables, input_shape).check_order(source, target)
