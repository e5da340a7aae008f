"""A reference forward pass that does not go through jaxinterp.door: Flax's own
``capture_intermediates``, for tests of code that reads layers through the door."""

from __future__ import annotations

from typing import Sequence

import jax


def forward(model, variables, x: jax.Array, layers: Sequence[str]) -> tuple[jax.Array, dict]:
    """``(logits, {layer: activation})`` for normalised inputs ``x``; a module called more than
    once keeps its last output (as a PyTorch hook and ``door.taps`` do)."""
    wanted = set(layers) - {"input", "logits"}

    def keep(module, method):
        return method == "__call__" and ".".join(module.scope.path) in wanted

    logits, state = model.apply(variables, x, capture_intermediates=keep, mutable=["intermediates"])
    found = {"input": x, "logits": logits}

    def walk(tree, prefix):
        for key, value in tree.items():
            if key == "__call__":
                found[".".join(prefix)] = value[-1]
            else:
                walk(value, prefix + (key,))

    walk(state.get("intermediates", {}), ())
    missing = [name for name in layers if name not in found]
    if missing:
        raise KeyError(f"no layer(s) {missing} in {type(model).__name__}")
    return logits, {name: found[name] for name in layers}
