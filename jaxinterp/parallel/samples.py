"""Sample-axis sharding for full-batch fits: pad to the device count, carry a 0/1 weight per row.

Padding rows are zeros with weight 0, so sums over samples (means, covariances,
segment sums) are unchanged; a fit divides by the true sample count.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.parallel.mesh import local_mesh, round_up, shard_batch


def shard_samples(x, mesh=None) -> tuple[jax.Array, jax.Array]:
    """[n, d] -> (x [n_pad, d] sharded over "data", weights [n_pad] with 1 for real rows).

    ``n_pad`` is ``n`` rounded up to a multiple of the mesh size; on one device
    nothing is padded and nothing moves.
    """
    mesh = mesh or local_mesh()
    x = np.asarray(x, np.float32)
    n = x.shape[0]
    n_pad = round_up(n, mesh.size)
    weights = np.zeros(n_pad, np.float32)
    weights[:n] = 1.0
    if n_pad != n:
        x = np.concatenate([x, np.zeros((n_pad - n,) + x.shape[1:], x.dtype)])
    if mesh.size == 1:
        return jnp.asarray(x), jnp.asarray(weights)
    return shard_batch((x, weights), mesh)


def maybe_shard_batch(batch, mesh=None):
    """Shard a minibatch over the mesh when its length divides evenly, else keep it whole."""
    mesh = mesh or local_mesh()
    if mesh.size > 1 and batch.shape[0] % mesh.size == 0:
        return shard_batch(batch, mesh)
    return jnp.asarray(batch)
