"""Activations of named layers of a jaxinterp model, running the model only up to the last one.

LPIPS needs the ReLU outputs inside ``features`` and nothing after them: at
32×32 AlexNet's last max-pool and 6×6 average pool are degenerate, and VGG16's
classifier alone holds 120M parameters. A Flax method interceptor records the
wanted outputs and, once all of them are in, turns every later module call into
the identity, so the head is neither run nor needs parameters (a backbone
initialised or converted without its classifier works).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import flax
import flax.linen as nn


def _run(model: nn.Module, layers: Sequence[str], call: Callable[[], Any]) -> tuple[dict, list]:
    wanted = set(layers)
    found: dict[str, jax.Array] = {}
    seen: list[str] = []

    def interceptor(next_fun, args, kwargs, context):
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        if len(found) == len(wanted):
            return args[0]  # past the last tap: skip (identity), the result is unused
        path = ".".join(context.module.scope.path)
        seen.append(path)
        out = next_fun(*args, **kwargs)
        if path in wanted:
            found[path] = out
        return out

    with nn.intercept_methods(interceptor):
        try:
            call()
        except flax.errors.ScopeParamNotFoundError as err:
            # a wanted layer was not met before the layers that the variables cover ran out
            missing = [name for name in layers if name not in found]
            raise ValueError(
                f"{type(model).__name__} has no layer(s) {missing} among the layers its variables "
                f"cover: {', '.join(s for s in seen if s)}. Check the names (torchvision-style, "
                f"e.g. 'features.11'); if the layer exists, pass variables that include it ({err})"
            ) from None
    return found, seen


def _check_found(model, layers, found, seen) -> None:
    missing = [name for name in layers if name not in found]
    if missing:
        names = [s for s in seen if s]
        raise ValueError(
            f"{type(model).__name__} has no layer(s) {missing}; its layers are: {', '.join(names)}"
        )


def truncated_taps(model: nn.Module, layers: Sequence[str]) -> Callable[[Any, jax.Array], list]:
    """(variables, x [n, h, w, c]) -> [activation of each of ``layers``], the model cut after the last."""
    layers = tuple(layers)

    def taps(variables, x):
        found, seen = _run(model, layers, lambda: model.apply(variables, x))
        _check_found(model, layers, found, seen)
        return [found[name] for name in layers]

    return taps


def init_truncated(model: nn.Module, key: jax.Array, layers: Sequence[str], input_size: int = 64) -> dict:
    """Random variables of ``model`` up to the last of ``layers`` only (no head), for tests and benchmarks."""
    x = jnp.zeros((1, input_size, input_size, getattr(model, "IN_CHANNELS", 3)), jnp.float32)
    box = {}

    def call():
        box["v"] = model.init(key, x)

    found, seen = _run(model, tuple(layers), call)
    _check_found(model, layers, found, seen)
    return dict(box["v"])
