"""Taps: the activations of named layers, the model run only as far as the last of them.

::

    acts = door.taps(model, variables, model.normalize(images01), ["layer1", "layer3"])
    pre = door.taps(model, variables, x, ["layer3"], pre_relu=True)["layer3"]   # before its ReLU

The forward pass ends (:class:`~jaxinterp.door._hooks.Stop`) as soon as every wanted layer has
returned as often as the model calls it, so the layers after it are neither traced nor need
parameters: a backbone converted without its classifier works, and asking for ``layer1`` of a
224-px network traces only its stem. ``"input"`` is ``x`` itself and ``"logits"`` the output
(asking for it runs the whole model).

A *pre-ReLU* read gives the input of the model ReLU whose output *is* the layer's output
(found while tracing; every model ReLU goes through :func:`jaxinterp.models.base.relu`); a layer
whose output is not a ReLU's (a conv, a BN, a residual sum before its ReLU) reads the same
either way (:attr:`jaxinterp.door.Layer.relu` says which).
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from jaxinterp.door._hooks import Stop, module_calls, relu_override
from jaxinterp.door.graph import graph
from jaxinterp.models.base import active_relu

__all__ = ["init_truncated", "taps"]

ENDS = ("input", "logits")


def _layers(layers) -> tuple[str, ...]:
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    if not layers:
        raise ValueError("no layers asked for; pass e.g. layers=['layer1'] (door.layer_names lists them)")
    return layers


def _run(model, variables, x, layers, g, *, pre_relu: bool, init_key=None):
    """({name: act}, the variables when ``init_key`` is given): ``apply`` (or ``init``) of
    ``model`` until every wanted layer has returned as often as graph ``g`` says it is called."""
    wanted = {name for name in layers if name not in ENDS}
    calls = {name: g[name].calls for name in wanted}
    found: dict[str, jax.Array] = {}
    seen = dict.fromkeys(wanted, 0)
    relus: list = []
    box: dict = {}
    relu = active_relu()  # (linear mode's identity, featvis's redirected ReLU, or nn.relu)

    def record_relu(v):
        out = relu(v)
        relus.append((v, out))
        return out

    def handler(call):
        before = len(relus)
        out = call.run()
        if call.name in wanted:  # a ReLU run inside this call made the output
            source = next((v for v, o in reversed(relus[before:]) if o is out), None) if pre_relu else None
            found[call.name] = out if source is None else source
            seen[call.name] += 1
            if all(seen[n] >= calls[n] for n in wanted) and "logits" not in layers:
                if init_key is not None:
                    box["variables"] = call.module.scope.root.variables()
                raise Stop
        return out

    with contextlib.ExitStack() as stack:
        if pre_relu:
            stack.enter_context(relu_override(record_relu))
        stack.enter_context(module_calls(handler))
        try:
            if init_key is not None:
                box["variables"] = model.init(init_key, x)
            else:
                found["logits"] = model.apply(variables, x)
        except Stop:
            pass
    return found, box.get("variables")


def taps(model, variables, x: Float[ArrayLike, " n H W C"], layers: Sequence[str], *,
         pre_relu: bool = False) -> dict[str, Array]:
    """``{layer: activation}`` for normalised inputs ``x`` [n, H, W, C].

    Args:
      model, variables: a jaxinterp model and its ``{"params", "batch_stats"}``.
      x: [n, H, W, C] normalised images (``model.normalize(images01)``).
      layers: PyTorch-style names (:func:`jaxinterp.door.layer_names` lists them), ``"input"``,
        ``"logits"``. Unknown names raise one ValueError with close matches.
      pre_relu: read each layer before the ReLU that produces it (see the module docstring).

    Returns:
      ``{name: [n, h, w, c] or [n, c]}`` in the order of ``layers``.
    """
    layers = _layers(layers)
    g = graph(model, variables, x.shape[1:])
    g.check(layers)
    found, _ = _run(model, variables, x, layers, g, pre_relu=pre_relu)
    found["input"] = jnp.asarray(x)  # every value a jax Array, as annotated
    return {name: found[name] for name in layers}


def init_truncated(model, key: jax.Array, layers: Sequence[str], input_size: int = 64) -> dict:
    """Random variables of ``model`` up to the last of ``layers`` only (no head), for tests and
    benchmarks of backbones (LPIPS)."""
    layers = _layers(layers)
    x = jnp.zeros((1, input_size, input_size, getattr(model, "IN_CHANNELS", 3)), jnp.float32)
    g = graph(model, jax.eval_shape(lambda k: model.init(k, x), key), x.shape[1:])
    g.check(layers)
    _, variables = _run(model, None, x, layers, g, pre_relu=False, init_key=key)
    return {name: dict(tree) for name, tree in variables.items()}
