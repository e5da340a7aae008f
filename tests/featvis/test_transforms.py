"""Each transform against a reference on a known image."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxinterp.featvis import transforms as T


def known_image(h=9, w=11, b=2, c=3):
    return np.arange(b * h * w * c, dtype=np.float32).reshape(b, h, w, c) / (b * h * w * c)


def test_pad_equals_numpy():
    x = known_image()
    np.testing.assert_array_equal(np.asarray(T.pad(3)(None, x)),
                                  np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)), constant_values=0.5))
    np.testing.assert_array_equal(np.asarray(T.pad(2, "reflect")(None, x)),
                                  np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect"))


def test_jitter_is_a_crop_with_offsets_uniform_on_0_to_d():
    x, d = known_image(), 3
    seen = set()
    for i in range(200):
        out = np.asarray(T.jitter(d)(jax.random.key(i), x))
        assert out.shape == (2, 9 - d, 11 - d, 3)
        matches = [(oy, ox) for oy in range(d + 1) for ox in range(d + 1)
                   if np.array_equal(out, x[:, oy:oy + 9 - d, ox:ox + 11 - d])]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {(oy, ox) for oy in range(d + 1) for ox in range(d + 1)}


def rotate_reference(x, radians):
    """tfa.image.rotate (nearest, zero fill) written out pixel by pixel."""
    b, h, w, c = x.shape
    out = np.zeros_like(x)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    cos, sin = np.cos(radians), np.sin(radians)
    for y in range(h):
        for xx in range(w):
            sx = cos * (xx - cx) - sin * (y - cy) + cx
            sy = sin * (xx - cx) + cos * (y - cy) + cy
            iy, ix = int(np.floor(sy + 0.5)), int(np.floor(sx + 0.5))
            if 0 <= iy < h and 0 <= ix < w:
                out[:, y, xx] = x[:, iy, ix]
    return out


@pytest.mark.parametrize("degrees", [10.0, -7.0, 90.0])
def test_rotate_equals_reference(degrees):
    x = known_image(9, 9)
    rot = T.random_rotate([degrees])
    np.testing.assert_allclose(np.asarray(rot(jax.random.key(0), x)),
                               rotate_reference(x, 3.14 * degrees / 180), atol=1e-6)
    exact = T.random_rotate([90.0], pi=np.pi)(jax.random.key(0), x)
    np.testing.assert_array_equal(np.asarray(exact), np.rot90(x, k=1, axes=(1, 2)))


def scale_reference(x, s):
    """Bilinear zoom by s about the centre, edge values outside, pixel by pixel."""
    b, h, w, c = x.shape
    out = np.zeros_like(x)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for y in range(h):
        for xx in range(w):
            sy, sx = cy + (y - cy) / s, cx + (xx - cx) / s
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            fy, fx = sy - y0, sx - x0

            def at(i, j):
                return x[:, min(max(i, 0), h - 1), min(max(j, 0), w - 1)]

            out[:, y, xx] = ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
                             + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))
    return out


@pytest.mark.parametrize("s", [0.9, 1.1, 1.0])
def test_scale_equals_reference(s):
    x = known_image()
    np.testing.assert_allclose(np.asarray(T.random_scale([s])(jax.random.key(0), x)),
                               scale_reference(x, s), atol=1e-6)


def test_compose_applies_in_order_with_split_keys_and_lucid_sets():
    x = known_image(16, 16)
    key = jax.random.key(3)
    steps = [T.pad(2), T.jitter(2), T.random_scale(T.SCALES), T.random_rotate(T.ANGLES), T.jitter(1)]
    ref = x
    for k, t in zip(jax.random.split(key, len(steps)), steps):
        ref = t(k, ref)
    np.testing.assert_array_equal(np.asarray(T.cifar()(key, x)), np.asarray(ref))
    assert T.cifar()(key, x).shape == (2, 17, 17, 3)
    assert T.standard()(key, known_image(40, 40)).shape == (2, 52, 52, 3)
    assert T.SCALES[0] == 0.9 and T.SCALES[-1] == 1.1 and len(T.SCALES) == 11
    assert T.ANGLES.count(0) == 6 and len(T.ANGLES) == 26
    assert T.cifar() == T.cifar() and hash(T.cifar()) == hash(T.cifar())  # compiled once per setting


def test_bad_input():
    with pytest.raises(ValueError, match="jitter"):
        T.jitter(-1)
    with pytest.raises(ValueError, match="positive scales"):
        T.random_scale([0.0])
    with pytest.raises(ValueError, match="unknown transform set"):
        T.by_name("lucid")
