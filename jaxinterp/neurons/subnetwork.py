"""Sub-networks between named layers of any jaxinterp model.

``subnetwork(model, variables, inputs=["layer1.1", "layer1.2.bn1"], output="layer1")``
returns ``fn(tuple of one image's tensors) -> output [h, w, N]``: the model is
run with the named modules' outputs *replaced* by the given tensors (Flax
``intercept_methods``), so everything upstream of them is dead code under jit.
Replacing a module whose output the model passes through a ReLU by a
non-negative tensor (a captured post-ReLU map) leaves that ReLU the identity,
which is how levels start "after" a functional ReLU.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinterp.models.base import ImageModel, forward


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

    def fn(parts):
        parts = tuple(parts)
        if len(parts) != len(inputs):
            raise ValueError(f"expected {len(inputs)} tensors for {inputs}, got {len(parts)}")
        named = {name: p[None] for name, p in zip(inputs, parts) if name != "input"}
        x = parts[inputs.index("input")][None] if "input" in inputs else jnp.zeros((1, *input_shape))

        def interceptor(next_fun, args, kwargs, context):
            if context.method_name == "__call__":
                name = ".".join(context.module.scope.path)
                if name in named:
                    return named[name]
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(interceptor):
            _, acts = forward(model, variables, x, [output])
        return acts[output][0]

    return fn
