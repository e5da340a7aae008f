"""The jaxtyping annotations of the door, directions and scores kernels are checked in the tests
(tests/conftest.py installs the import hook), and JAX's strict promotion settings are on."""

import jax
import jax.numpy as jnp
import jaxtyping
import numpy as np
import pytest

from jaxinterp.directions import pca
from jaxinterp.scores import ii, manifold


def test_a_wrong_rank_is_refused_by_the_annotation():
    # without the hook this is check_top_m's ValueError, which is not a TypeCheckError
    with pytest.raises(jaxtyping.TypeCheckError, match="Real"):
        ii.top_exemplars(np.zeros((3, 4), np.float32), 2)


def test_disagreeing_dimensions_are_refused_by_the_annotation():
    # unit_acts [n, d] and centroids [k, d] must share d; without the hook the matmul fails later
    with pytest.raises(jaxtyping.TypeCheckError, match="d"):
        manifold.manifold_activations(np.ones((5, 3), np.float32), np.ones((4, 2), np.float32))


def test_numpy_and_jax_arrays_both_pass():
    acts = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    state = pca.fit(None, acts, 2)
    np.testing.assert_allclose(pca.transform(state, acts), pca.transform(state, jnp.asarray(acts)))


def test_promotion_is_strict_and_ranks_are_not_broadcast():
    assert jax.config.jax_numpy_dtype_promotion == "strict"
    with pytest.raises(ValueError, match="rank_promotion"):
        jnp.ones((2, 3)) - jnp.ones(3)
