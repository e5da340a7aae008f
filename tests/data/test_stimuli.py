"""Synthetic stimuli: each renderer against a per-pixel numpy reference written here, the angle
conventions, vmapping, family() against per-parameter calls, and bad input."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.data import stimuli

N = 16
TOL = 2e-5


# ---- numpy references: one pixel at a time, float64 -----------------------------------------


def _pixels(size, centre=None):
    """(row, col, x, y) for every pixel, x right / y up relative to the centre."""
    cx, cy = ((size - 1) / 2.0,) * 2 if centre is None else centre
    for i in range(size):
        for j in range(size):
            yield i, j, j - cx, cy - i


def _unit(deg):
    return np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg))])


def _dist_segment(p, a, b):
    """Perpendicular distance when the foot falls inside the segment, else the nearer end."""
    ab, ap = b - a, p - a
    L = np.linalg.norm(ab)
    along = ap @ ab / L
    if 0.0 <= along <= L:
        return abs(ab[0] * ap[1] - ab[1] * ap[0]) / L
    return min(np.linalg.norm(p - a), np.linalg.norm(p - b))


def _dist_arc(p, centre_of_circle, r, mid_dir, half):
    """Nearest point on the circle; it is on the arc when its angle to the midpoint <= half."""
    v = p - centre_of_circle
    nv = np.linalg.norm(v)
    u = v / nv if nv > 0 else np.array([1.0, 0.0])
    cos_to_mid = np.clip(u @ mid_dir, -1, 1)
    if math.acos(cos_to_mid) <= half + 1e-12:
        return abs(nv - r)
    ends = []
    for sgn in (-1, 1):
        c, s = math.cos(sgn * half), math.sin(sgn * half)
        e = centre_of_circle + r * np.array([c * mid_dir[0] - s * mid_dir[1], s * mid_dir[0] + c * mid_dir[1]])
        ends.append(np.linalg.norm(p - e))
    return min(ends)


def _paint(size, dist_fn, width, centre=None):
    img = np.ones((size, size))
    for i, j, x, y in _pixels(size, centre):
        d = dist_fn(np.array([x, y]))
        img[i, j] = 1.0 - min(max(width / 2 - d + 0.5, 0.0), 1.0)
    return img


def ref_line(size, theta, length=None, width=2.0, centre=None):
    L = size / 2 if length is None else length
    a, b = -L / 2 * _unit(theta), L / 2 * _unit(theta)
    return _paint(size, lambda p: _dist_segment(p, a, b), width, centre)


def ref_curve(size, theta, r, length=None, width=2.0, centre=None):
    L = size / 2 if length is None else length
    normal = _unit(theta + 90)                   # the circle's centre lies to the left
    o = r * normal
    half = min(L / (2 * r), math.pi)
    return _paint(size, lambda p: _dist_arc(p, o, r, -normal, half), width, centre)


def ref_angle(size, theta, opening, length=None, width=2.0):
    L = size / 2 if length is None else length
    arms = [(np.zeros(2), L / 2 * _unit(theta + s * opening / 2)) for s in (-1, 1)]
    return _paint(size, lambda p: min(_dist_segment(p, a, b) for a, b in arms), width)


def _across(x, y, theta):
    """Coordinate across the stripes: y after rotating (x, y) by -theta."""
    t = math.radians(-theta)
    return math.sin(t) * x + math.cos(t) * y


def ref_grating(size, theta, f, phase):
    img = np.zeros((size, size))
    for i, j, x, y in _pixels(size):
        img[i, j] = 0.5 + 0.5 * math.cos(2 * math.pi * f * _across(x, y, theta) + math.radians(phase))
    return img


def ref_high_low(size, theta, fh, fl):
    img = np.zeros((size, size))
    for i, j, x, y in _pixels(size):
        u = _across(x, y, theta)
        w = min(max(0.5 + u, 0.0), 1.0)
        img[i, j] = w * (0.5 + 0.5 * math.cos(2 * math.pi * fh * u)) + (1 - w) * (
            0.5 + 0.5 * math.cos(2 * math.pi * fl * u))
    return img


def _gray(img):
    img = np.asarray(img)
    assert img.shape[-1] == 3 and img.dtype == np.float32
    np.testing.assert_array_equal(img[..., 0], img[..., 1])
    np.testing.assert_array_equal(img[..., 0], img[..., 2])
    return img[..., 0]


# ---- renderers vs references ----------------------------------------------------------------


@pytest.mark.parametrize("theta", [0.0, 23.0, 90.0, 137.5, 300.0])
def test_line_matches_numpy_reference(theta):
    np.testing.assert_allclose(_gray(stimuli.line(N, theta)), ref_line(N, theta), atol=TOL)
    got = stimuli.line(N, theta, length=11.0, width=1.5, centre=(6.0, 9.25))
    np.testing.assert_allclose(_gray(got), ref_line(N, theta, 11.0, 1.5, (6.0, 9.25)), atol=TOL)


@pytest.mark.parametrize("theta,r", [(0.0, 3.0), (40.0, 6.0), (200.0, 2.0), (271.0, 20.0), (90.0, 1.0)])
def test_curve_matches_numpy_reference(theta, r):
    np.testing.assert_allclose(_gray(stimuli.curve(N, theta, r)), ref_curve(N, theta, r), atol=TOL)
    got = stimuli.curve(N, theta, r, length=10.0, width=3.0, centre=(7.0, 8.0))
    np.testing.assert_allclose(_gray(got), ref_curve(N, theta, r, 10.0, 3.0, (7.0, 8.0)), atol=TOL)


@pytest.mark.parametrize("theta,opening", [(0.0, 60.0), (90.0, 90.0), (215.0, 30.0), (10.0, 150.0)])
def test_angle_matches_numpy_reference(theta, opening):
    np.testing.assert_allclose(_gray(stimuli.angle(N, theta, opening)), ref_angle(N, theta, opening), atol=TOL)
    got = stimuli.angle(N, theta, opening, length=12.0, width=1.0)
    np.testing.assert_allclose(_gray(got), ref_angle(N, theta, opening, 12.0, 1.0), atol=TOL)


@pytest.mark.parametrize("theta,f,phase", [(0.0, 0.25, 0.0), (30.0, 0.1, 45.0), (123.0, 0.4, 200.0)])
def test_grating_matches_numpy_reference(theta, f, phase):
    np.testing.assert_allclose(_gray(stimuli.grating(N, theta, f, phase)), ref_grating(N, theta, f, phase),
                               atol=TOL)


@pytest.mark.parametrize("theta,fh,fl", [(0.0, 0.4, 0.05), (75.0, 0.3, 0.1), (250.0, 0.45, 0.0)])
def test_high_low_matches_numpy_reference(theta, fh, fl):
    np.testing.assert_allclose(_gray(stimuli.high_low(N, theta, fh, fl)), ref_high_low(N, theta, fh, fl),
                               atol=TOL)


# ---- conventions ----------------------------------------------------------------------------


def test_line_orientation_convention():
    dark = lambda img: np.argwhere(_gray(img) < 0.5)  # noqa: E731  (row, col) of inked pixels
    rows = set(dark(stimuli.line(N, 0.0))[:, 0])
    cols = set(dark(stimuli.line(N, 90.0))[:, 1])
    assert rows == {7, 8} and cols == {7, 8}               # 0° horizontal, 90° vertical
    d45 = dark(stimuli.line(17, 45.0))                     # odd size: centre pixel (8, 8)
    assert np.all(np.abs(d45[:, 0] + d45[:, 1] - 16) <= 1)  # up-right: row falls as column grows
    np.testing.assert_allclose(stimuli.line(N, 30.0), stimuli.line(N, 210.0), atol=1e-6)  # period 180


def test_curve_tangent_is_the_orientation_and_it_bends_left():
    for theta in (0.0, 35.0, 90.0, 160.0, 250.0):
        # a huge radius is a line: the tangent at the centre is the orientation
        np.testing.assert_allclose(stimuli.curve(N, theta, 1e3), stimuli.line(N, theta), atol=0.05)
    cup = np.argwhere(_gray(stimuli.curve(33, 0.0, 6.0)) < 0.5)
    assert _gray(stimuli.curve(33, 0.0, 6.0))[16, 16] < 0.5  # the midpoint is on the centre
    assert cup[:, 0].min() < 16 - 3 and cup[:, 0].max() <= 17  # 0°: the ends rise (cup)
    up = np.argwhere(_gray(stimuli.curve(33, 90.0, 6.0)) < 0.5)
    assert up[:, 1].min() < 16 - 3 and up[:, 1].max() <= 17  # 90° (upwards): bends to the left


def test_angle_bisector_and_straight_angle():
    # opening 180° is a straight line across the orientation, of the same total length
    np.testing.assert_allclose(stimuli.angle(N, 90.0, 180.0), stimuli.line(N, 0.0), atol=1e-5)
    arms = np.argwhere(_gray(stimuli.angle(33, 90.0, 60.0)) < 0.5)
    assert arms[:, 0].max() <= 17 and arms[:, 0].min() < 10  # both arms point up from the vertex
    assert np.isclose(arms[:, 1].mean(), 16.0, atol=0.1)     # symmetric about the bisector


def test_grating_frequency_phase_and_orientation():
    size, f = 32, 0.25
    g = _gray(stimuli.grating(size, 0.0, f, 0.0))
    np.testing.assert_allclose(g, g[:, :1].repeat(size, 1), atol=1e-6)    # 0°: horizontal stripes
    spectrum = np.abs(np.fft.rfft(g[:, 0] - g[:, 0].mean()))
    assert spectrum.argmax() == round(f * size)                          # f cycles per pixel
    v = _gray(stimuli.grating(size, 90.0, f, 0.0))
    np.testing.assert_allclose(v, v[:1].repeat(size, 0), atol=1e-5)      # 90°: vertical stripes
    odd = 33  # the centre pixel lies on the centre line: value 0.5 + 0.5 cos(phase)
    for phase in (0.0, 60.0, 180.0):
        c = _gray(stimuli.grating(odd, 17.0, 0.1, phase))[16, 16]
        assert np.isclose(c, 0.5 + 0.5 * math.cos(math.radians(phase)), atol=1e-6)


def test_high_low_puts_the_high_frequency_on_the_left():
    img = _gray(stimuli.high_low(33, 0.0, 0.5, 0.0625))   # boundary horizontal: left = above
    top, bottom = img[:15, 0], img[18:, 0]
    assert np.abs(np.diff(top)).mean() > 0.9              # alternating pixel by pixel (0.5 c/px)
    assert np.abs(np.diff(bottom)).mean() < 0.3


# ---- batching, jit, family ------------------------------------------------------------------


def test_renderers_vmap_and_jit_over_parameters():
    thetas = jnp.array([0.0, 20.0, 95.0])
    radii = jnp.array([2.0, 5.0, 9.0])
    batched = jax.jit(jax.vmap(lambda t, r: stimuli.curve(N, t, r, width=1.5)))(thetas, radii)
    loop = np.stack([stimuli.curve(N, float(t), float(r), width=1.5) for t, r in zip(thetas, radii)])
    np.testing.assert_allclose(batched, loop, atol=1e-6)
    centres = jnp.array([[5.0, 6.0], [9.5, 3.0]])
    by_centre = jax.vmap(lambda c: stimuli.line(N, 45.0, centre=c))(centres)
    np.testing.assert_allclose(by_centre[1], stimuli.line(N, 45.0, centre=(9.5, 3.0)), atol=1e-6)


@pytest.mark.parametrize("name,grids", [
    ("line", {"orientation": [0, 45, 90], "width": [1.0, 2.5]}),
    ("curve", {"orientation": [0, 120, 250], "radius": [2.0, 8.0]}),
    ("angle", {"opening": [30, 90], "orientation": [10, 200]}),
    ("grating", {"orientation": [0, 60], "frequency": [0.1, 0.3], "phase": [0, 90, 180]}),
    ("high_low", {"orientation": [0, 200], "frequency_high": 0.4, "frequency_low": [0.05, 0.1]}),
])
def test_family_equals_per_parameter_calls(name, grids):
    images, params = stimuli.family(name, N, **grids)
    lists = [np.atleast_1d(np.asarray(v, np.float32)) for v in grids.values()]
    combos = list(itertools.product(*lists))
    assert images.shape == (len(combos), N, N, 3) and set(params) == set(grids)
    fn = getattr(stimuli, name)
    for k, combo in enumerate(combos):
        kw = dict(zip(grids, map(float, combo)))
        for p, v in kw.items():
            assert params[p][k] == np.float32(v)
        np.testing.assert_allclose(images[k], fn(N, **kw), atol=1e-5)


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("call,match", [
    (lambda: stimuli.line(0, 0.0), "size must be a positive"),
    (lambda: stimuli.line(16.0, 0.0), "size must be a positive"),
    (lambda: stimuli.line(16, 0.0, width=0.0), "width must be > 0"),
    (lambda: stimuli.line(16, 0.0, length=-1.0), "length must be > 0"),
    (lambda: stimuli.line(16, 0.0, centre=(1.0, 2.0, 3.0)), "centre must be"),
    (lambda: stimuli.curve(16, 0.0, 0.0), "radius must be > 0"),
    (lambda: stimuli.curve(16, float("nan"), 3.0), "orientation must be finite"),
    (lambda: stimuli.angle(16, 0.0, 400.0), "opening must be"),
    (lambda: stimuli.grating(16, 0.0, 0.7, 0.0), "Nyquist"),
    (lambda: stimuli.high_low(16, 0.0, 0.4, -0.1), "frequency_low"),
    (lambda: stimuli.family("spiral", 16, orientation=[0]), "unknown stimulus family"),
    (lambda: stimuli.family("curve", 16, orientation=[0]), "needs a grid for radius"),
    (lambda: stimuli.family("line", 16, orientation=[0], radius=[3]), "unknown radius"),
    (lambda: stimuli.family("line", 16, orientation=[[0, 1]]), "1-D"),
    (lambda: stimuli.family("curve", 16, orientation=[0], radius=[2.0, -1.0]), "radius must be > 0"),
])
def test_bad_input_is_refused_clearly(call, match):
    with pytest.raises(ValueError, match=match):
        call()
