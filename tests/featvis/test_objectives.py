"""Objectives: Lucid's formulas in numpy, composition as arithmetic says, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp.featvis import objectives as O


@pytest.fixture
def acts():
    rng = np.random.default_rng(0)
    return {"layer": rng.normal(size=(4, 5, 6, 7)).astype(np.float32),
            "dense": rng.normal(size=(4, 7)).astype(np.float32),
            "input": rng.uniform(size=(4, 8, 8, 3)).astype(np.float32)}


def test_unit_objectives_equal_lucid_formulas(acts):
    a = acts["layer"]
    assert np.isclose(O.channel("layer", 3).value(acts), a[..., 3].mean(), atol=1e-6)
    assert np.isclose(O.channel("layer", 3, batch=2).value(acts), a[2, ..., 3].mean(), atol=1e-6)
    assert np.isclose(O.channel("dense", 1).value(acts), acts["dense"][:, 1].mean(), atol=1e-6)
    # centre of a 5x6 map: (5 // 2, 6 // 2) = (2, 3), the lower right of the centre for even sizes
    assert np.isclose(O.neuron("layer", 4).value(acts), a[:, 2, 3, 4].sum(), atol=1e-5)
    vec = np.arange(7, dtype=np.float32) - 3
    assert np.isclose(O.direction("layer", vec).value(acts), (a @ vec).mean(), atol=1e-5)
    dot = a @ vec
    cos = dot / (1e-4 + np.linalg.norm(a, axis=-1)) / (1e-4 + np.linalg.norm(vec))
    assert np.isclose(O.direction("layer", vec, cossim_pow=2).value(acts),
                      (dot * np.maximum(0.1, cos) ** 2).mean(), atol=1e-5)


def test_batched_objectives_equal_a_sum_of_single_ones(acts):
    units = [6, 0, 3, 3]
    loop = sum(float(O.channel("layer", u, batch=i).value(acts)) for i, u in enumerate(units))
    assert np.isclose(O.channels("layer", units).value(acts), loop, atol=1e-5)
    loop = sum(float(O.neuron("layer", u, batch=i).value(acts)) for i, u in enumerate(units))
    assert np.isclose(O.neurons("layer", units).value(acts), loop, atol=1e-5)
    vecs = np.random.default_rng(1).normal(size=(4, 7)).astype(np.float32)
    loop = sum(float(O.direction("layer", v, batch=i).value(acts)) for i, v in enumerate(vecs))
    assert np.isclose(O.directions("layer", vecs).value(acts), loop, atol=1e-4)


def test_penalties_equal_numpy(acts):
    x = acts["input"]
    tv = np.abs(np.diff(x, axis=1)).sum() + np.abs(np.diff(x, axis=2)).sum()
    assert np.isclose(O.total_variation().value(acts), tv, rtol=1e-5)
    assert np.isclose(O.l1(constant=0.5).value(acts), np.abs(x - 0.5).sum(), rtol=1e-5)
    assert np.isclose(O.l2().value(acts), np.sqrt(1e-6 + (x ** 2).sum()), rtol=1e-5)
    # Lucid's diversity: Gram matrices, l2-normalised, summed similarity to every other image / batch
    f = acts["layer"].reshape(4, -1, 7).astype(np.float64)
    grams = np.einsum("bpc,bpd->bcd", f, f)
    grams /= np.linalg.norm(grams.reshape(4, -1), axis=1)[:, None, None]
    ref = sum((grams[i] * grams[j]).sum() for i in range(4) for j in range(4) if j != i) / 4
    assert np.isclose(O.diversity("layer").value(acts), ref, rtol=1e-5)
    # in sets of 2 (one set per unit): each set's diversity, summed
    pair = lambda i, j: 2 * (grams[i] * grams[j]).sum() / 2  # noqa: E731
    assert np.isclose(O.diversity("layer", group=2).value(acts), pair(0, 1) + pair(2, 3), rtol=1e-5)
    # blur: 3x3 kernel 0.5 at the border, 1 inside, SAME, normalised by the blur of ones
    k = np.full((3, 3), 0.5)
    k[1, 1] = 1
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ones = np.pad(np.ones_like(x), ((0, 0), (1, 1), (1, 1), (0, 0)))
    num = sum(k[i, j] * pad[:, i:i + 8, j:j + 8] for i in range(3) for j in range(3))
    den = sum(k[i, j] * ones[:, i:i + 8, j:j + 8] for i in range(3) for j in range(3))
    assert np.isclose(O.blur_input_each_step().value(acts), 0.5 * ((x - num / den) ** 2).sum(), rtol=1e-4)


def test_objectives_compose_as_arithmetic_says(acts):
    a, b = O.channel("layer", 1), O.total_variation()
    va, vb = float(a.value(acts)), float(b.value(acts))
    combos = {
        "2a - b/4 + 3": (2 * a - b / 4 + 3, 2 * va - vb / 4 + 3),
        "a * b": (a * b, va * vb),
        "-a + 1": (-a + 1, -va + 1),
        "1 - a": (1 - a, 1 - va),
        "a - 0.5 * b": (a - 0.5 * b, va - 0.5 * vb),
        "(a + a) * 0.5": ((a + a) * 0.5, va),
    }
    for name, (obj, expected) in combos.items():
        assert np.isclose(obj.value(acts), expected, rtol=1e-5), name
    assert set((2 * a - b).layers) == {"layer", "input"}
    assert "Channel(layer, 1)" in str(a - 0.05 * b)
    # data (indices, weights) is not structure: equal objectives compile once
    assert O.channels("layer", [1, 2]) == O.channels("layer", [3, 4])
    assert hash(a - 0.1 * b) == hash(O.channel("layer", 5) - 0.7 * b)
    assert O.channel("layer", 1) != O.channel("other", 1)


SHAPES = {"layer": (4, 5, 6, 7), "dense": (4, 7), "flat": (4,), "input": (4, 8, 8, 3)}


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match=r"unit index 7 is out of range.*7 channels"):
        O.channel("layer", 7).check(SHAPES)
    with pytest.raises(ValueError, match=r"out of range"):
        (O.channel("layer", 1) + O.channels("layer", [0, 1, 2, 9])).check(SHAPES)
    with pytest.raises(ValueError, match="no channel axis"):
        O.channel("flat", 0).check(SHAPES)
    with pytest.raises(ValueError, match="no channel axis"):
        O.neuron("dense", 0).check(SHAPES)  # a neuron needs a spatial map
    with pytest.raises(ValueError, match=r"direction of width 5 .* width 7"):
        O.direction("layer", np.ones(5)).check(SHAPES)
    with pytest.raises(ValueError, match=r"3 units for a batch of 4"):
        O.channels("layer", [0, 1, 2]).check(SHAPES)
    with pytest.raises(ValueError, match="integer"):
        O.channel("layer", 1.5)
    with pytest.raises(ValueError, match=r"diversity\(group=3\) needs a batch of whole sets, got 4 images"):
        O.diversity("layer", group=3).check(SHAPES)
    O.channels("layer", [0, 1, 2, 6]).check(SHAPES)  # fits: no error
    O.diversity("layer", group=2).check(SHAPES)
