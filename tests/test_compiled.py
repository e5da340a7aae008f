"""jaxinterp.compiled: JAX's compiled programs are dropped, and their maps freed, near the limit."""

import jax
import jax.numpy as jnp
import pytest

from jaxinterp import compiled


def _compile_many(n: int) -> None:
    for i in range(n):
        jax.jit(lambda x, i=i: jnp.sin(x) * i)(jnp.ones(i + 1)).block_until_ready()


def test_maps_are_freed_above_the_fraction_and_kept_below():
    counts = compiled.map_counts()
    if counts is None:
        pytest.skip("this system has no /proc/self/maps")
    compiled.relieve(0.0)
    before = compiled.map_counts()[0]
    _compile_many(100)
    grown = compiled.map_counts()[0]
    assert grown >= before + 200  # each CPU program holds maps of its own (about three)
    assert not compiled.relieve(1.0) and compiled.map_counts()[0] > grown - 20  # kept
    assert compiled.relieve(0.0)
    assert compiled.map_counts()[0] < grown - 150  # the programs' maps are gone
