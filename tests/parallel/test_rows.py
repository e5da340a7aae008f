"""split_rows and pad_rows on one device (the 8-device runs are in the kernels' own tests)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import parallel


def _rowwise(rows, shared, scale):
    return {"y": rows["x"] @ shared * scale, "n": jnp.sum(rows["x"], 1)}


def test_split_rows_equals_the_plain_call(rng):
    x = rng.normal(size=(7, 3)).astype(np.float32)
    w = rng.normal(size=(3, 2)).astype(np.float32)
    got = parallel.split_rows(_rowwise, parallel.local_mesh(), scale=2.0)({"x": x}, w)
    np.testing.assert_allclose(got["y"], x @ w * 2.0, rtol=1e-6)
    np.testing.assert_allclose(got["n"], x.sum(1), rtol=1e-6)


def test_pad_rows_repeats_row_zero():
    tree = {"a": jnp.arange(6).reshape(3, 2), "b": jnp.arange(3)}
    padded = parallel.pad_rows(tree, 5)
    np.testing.assert_array_equal(padded["a"], [[0, 1], [2, 3], [4, 5], [0, 1], [0, 1]])
    np.testing.assert_array_equal(padded["b"], [0, 1, 2, 0, 0])
    with pytest.raises(ValueError, match="at least one array"):
        parallel.split_rows(_rowwise, parallel.local_mesh(), scale=1.0)({}, None)
