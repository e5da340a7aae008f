"""PRNG keys from configs: a seed and a path of ``("split", n, i)`` / ``("fold", j)`` steps.

Configs hold only hashable values, so a task that needs the ``i``-th of ``n`` keys split
from ``key(seed)`` (as the seed paper's recipe does) says so as data::

    key_of(0, (("split", 3, 1),))  ==  jax.random.split(jax.random.key(0), 3)[1]
"""

from __future__ import annotations

import jax


def key_of(seed: int, path: tuple = ()) -> jax.Array:
    key = jax.random.key(seed)
    for step in path:
        if step[0] == "split":
            _, n, i = step
            key = jax.random.split(key, n)[i]
        elif step[0] == "fold":
            key = jax.random.fold_in(key, step[1])
        else:
            raise ValueError(f"key path steps are ('split', n, i) or ('fold', j), got {step!r}")
    return key
