"""Synthetic stimuli for tuning curves (METHODS.md §6.3): lines, curves, angles, gratings and
high-low frequency boundaries, rendered anti-aliased in JAX.

Every renderer is a pure ``jnp`` function of scalar parameters that returns one image
[size, size, 3] float32 in [0, 1] (black stroke on a white background; gratings are
sinusoids 0..1), so it can be vmapped over any of its parameters; ``size`` is static::

    img = stimuli.curve(32, orientation=30.0, radius=8.0)                   # [32, 32, 3]
    imgs = jax.vmap(lambda t: stimuli.line(32, t))(jnp.arange(0, 180, 15.))  # [12, 32, 32, 3]
    imgs, params = stimuli.family("curve", 32, orientation=np.arange(0, 360, 10),
                                  radius=np.geomspace(2, 32, 6))              # [216, 32, 32, 3]

Conventions:
- Angles are in degrees; 0° points right (+x), counter-clockwise is positive (y up on
  screen, i.e. towards smaller row indices).
- Pixel (row i, column j) is the unit square centred at x = j, y = i (rows grow downwards);
  ``centre`` is given as (x, y) = (column, row) in pixels, default the image centre
  ((size - 1) / 2, (size - 1) / 2).
- ``length`` is the stroke's total length in pixels (for an angle: both arms together),
  default ``size / 2``; ``width`` is the stroke width in pixels, default 2.

Anti-aliasing: each pixel's ink coverage is a clipped linear ramp of the exact (analytic)
distance ``d`` from the pixel centre to the shape's centre line,
``coverage = clip(width / 2 - d + 0.5, 0, 1)`` (a one-pixel ramp across the stroke's edge;
strokes end in round caps), and the image is ``1 - coverage``. The ramp is the area
coverage of a straight edge crossing the pixel at right angles to a pixel side; it is exact
up to that approximation and costs no supersampling.

Curves (§6.3 [D]): an arc of radius ``radius`` whose midpoint sits on ``centre`` with
tangent direction ``orientation`` there; it bends to the left of that direction (the
circle's centre is at ``centre + radius · (-sin θ, cos θ)`` in x/y-up coordinates), so
orientations over 0..360° cover both bending directions. An arc longer than the circle is
clipped to the full circle. Large radii approach a line (float32 limits the distance to
about ``radius · 1e-7`` pixels).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["angle", "curve", "family", "grating", "high_low", "line", "FAMILIES"]


# ---- checks ---------------------------------------------------------------------------------


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive Python int (pixels; it fixes the image shape "
                         f"[size, size, 3]), got {size!r}; pass e.g. size=32")
    return int(size)


def _concrete(value):
    """``value`` as a numpy array when it is known now (not traced under jit/vmap), else None."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _check(name: str, value, low: float | None = None, high: float | None = None,
           strict: bool = True, hint: str = "") -> None:
    """Raise if a concrete ``value`` (scalar or array) is non-finite or outside (low, high]."""
    v = _concrete(value)
    if v is None:
        return
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    bad_low = low is not None and np.any(v <= low if strict else v < low)
    bad_high = high is not None and np.any(v > high)
    if bad_low or bad_high:
        lo = "" if low is None else f"{'>' if strict else '>='} {low}"
        hi = "" if high is None else f"<= {high}"
        want = " and ".join(s for s in (lo, hi) if s)
        raise ValueError(f"{name} must be {want}, got {value!r}{'; ' + hint if hint else ''}")


def _check_frequency(name, value):
    _check(name, value, 0.0, 0.5, strict=False,
           hint="cycles per pixel; above 0.5 (Nyquist) the grating aliases")


_PARAM_CHECKS = {
    "length": lambda v: _check("length", v, 0.0, hint="the stroke's total length in pixels"),
    "width": lambda v: _check("width", v, 0.0, hint="the stroke width in pixels, e.g. width=2.0"),
    "radius": lambda v: _check("radius", v, 0.0,
                               hint="the arc's radius in pixels; use line() for a straight stroke"),
    "opening": lambda v: _check("opening", v, 0.0, 360.0, strict=False,
                                hint="degrees between the two arms"),
    "orientation": lambda v: _check("orientation", v),
    "phase": lambda v: _check("phase", v),
    "frequency": lambda v: _check_frequency("frequency", v),
    "frequency_high": lambda v: _check_frequency("frequency_high", v),
    "frequency_low": lambda v: _check_frequency("frequency_low", v),
}


def _check_params(**params):
    for k, v in params.items():
        if v is not None:
            _PARAM_CHECKS[k](v)


# ---- geometry -------------------------------------------------------------------------------


def _grid(size: int, centre):
    """Pixel centres relative to ``centre`` in x-right / y-up coordinates: x, y [size, size]."""
    rows, cols = jnp.meshgrid(jnp.arange(size, dtype=jnp.float32), jnp.arange(size, dtype=jnp.float32),
                              indexing="ij")
    if centre is None:
        cx = cy = (size - 1) / 2.0
    else:
        centre = jnp.asarray(centre, jnp.float32)
        if centre.shape != (2,):
            raise ValueError(f"centre must be (x, y) = (column, row) in pixels, got shape "
                             f"{tuple(centre.shape)}; pass e.g. centre=(15.5, 15.5)")
        cx, cy = centre[0], centre[1]
    return cols - cx, cy - rows


def _direction(deg):
    t = jnp.deg2rad(jnp.asarray(deg, jnp.float32))
    return jnp.cos(t), jnp.sin(t)


def _segment_distance(x, y, ax, ay, bx, by):
    """Distance from points (x, y) to the segment a-b (a capsule's centre line)."""
    dx, dy = bx - ax, by - ay
    denom = jnp.maximum(dx * dx + dy * dy, 1e-12)
    t = jnp.clip(((x - ax) * dx + (y - ay) * dy) / denom, 0.0, 1.0)
    return jnp.hypot(x - ax - t * dx, y - ay - t * dy)


def _ink(distance, width):
    """Black stroke on white: 1 - clip(width / 2 - d + 0.5, 0, 1), as [size, size, 3]."""
    coverage = jnp.clip(jnp.asarray(width, jnp.float32) / 2.0 - distance + 0.5, 0.0, 1.0)
    img = 1.0 - coverage
    return jnp.repeat(img[..., None], 3, axis=-1).astype(jnp.float32)


def _length(size, length):
    return jnp.float32(size / 2.0) if length is None else jnp.asarray(length, jnp.float32)


# ---- renderers ------------------------------------------------------------------------------


def line(size: int, orientation, length=None, width=2.0, centre=None) -> jax.Array:
    """A straight stroke through ``centre`` along ``orientation`` (degrees): [size, size, 3].

    ``orientation`` has period 180°: 0° is horizontal, 90° vertical.
    """
    size = _check_size(size)
    _check_params(orientation=orientation, length=length, width=width)
    x, y = _grid(size, centre)
    c, s = _direction(orientation)
    half = _length(size, length) / 2.0
    return _ink(_segment_distance(x, y, -half * c, -half * s, half * c, half * s), width)


def curve(size: int, orientation, radius, length=None, width=2.0, centre=None) -> jax.Array:
    """An arc of ``radius`` pixels, midpoint on ``centre``, tangent ``orientation`` there: [size, size, 3].

    The arc bends to the left of the tangent direction (counter-clockwise), so 0° is a
    cup opening upwards (ends raised), 180° a cap opening downwards; see the module notes.
    """
    size = _check_size(size)
    _check_params(orientation=orientation, radius=radius, length=length, width=width)
    x, y = _grid(size, centre)
    c, s = _direction(orientation)
    r = jnp.asarray(radius, jnp.float32)
    ox, oy = -s * r, c * r                        # the circle's centre
    px, py = x - ox, y - oy
    mid = jnp.arctan2(-c, s)                      # direction from the circle's centre to the midpoint
    delta = jnp.mod(jnp.arctan2(py, px) - mid + jnp.pi, 2 * jnp.pi) - jnp.pi
    half = jnp.minimum(_length(size, length) / (2.0 * r), jnp.pi)
    on_arc = jnp.abs(jnp.hypot(px, py) - r)
    ends = [jnp.hypot(px - r * jnp.cos(mid + sign * half), py - r * jnp.sin(mid + sign * half))
            for sign in (-1.0, 1.0)]
    distance = jnp.where(jnp.abs(delta) <= half, on_arc, jnp.minimum(*ends))
    return _ink(distance, width)


def angle(size: int, orientation, opening, length=None, width=2.0, centre=None) -> jax.Array:
    """Two straight arms from a vertex at ``centre``, ``opening`` degrees apart, symmetric about
    ``orientation`` (the bisector, pointing into the angle): [size, size, 3].

    Each arm is ``length / 2`` long; opening 180° is a straight line across ``orientation``.
    """
    size = _check_size(size)
    _check_params(orientation=orientation, opening=opening, length=length, width=width)
    x, y = _grid(size, centre)
    arm = _length(size, length) / 2.0
    half = jnp.asarray(opening, jnp.float32) / 2.0
    distances = []
    for sign in (-1.0, 1.0):
        c, s = _direction(jnp.asarray(orientation, jnp.float32) + sign * half)
        distances.append(_segment_distance(x, y, 0.0, 0.0, arm * c, arm * s))
    return _ink(jnp.minimum(*distances), width)


def _sinusoid(x, y, orientation, frequency, phase):
    """0.5 + 0.5 cos(2π f u + phase), u = distance across the stripes (stripes run along θ)."""
    c, s = _direction(orientation)
    u = -s * x + c * y
    f = jnp.asarray(frequency, jnp.float32)
    return 0.5 + 0.5 * jnp.cos(2 * jnp.pi * f * u + jnp.deg2rad(jnp.asarray(phase, jnp.float32)))


def grating(size: int, orientation, frequency, phase) -> jax.Array:
    """A sinusoidal grating 0..1 whose stripes run along ``orientation``: [size, size, 3].

    ``frequency`` in cycles per pixel (0..0.5), ``phase`` in degrees: the value at
    distance u from the centre line (measured towards ``orientation + 90°``) is
    ``0.5 + 0.5 cos(2π · frequency · u + phase)`` (white on the centre line at phase 0).
    """
    size = _check_size(size)
    _check_params(orientation=orientation, frequency=frequency, phase=phase)
    x, y = _grid(size, None)
    img = _sinusoid(x, y, orientation, frequency, phase)
    return jnp.repeat(img[..., None], 3, axis=-1).astype(jnp.float32)


def high_low(size: int, orientation, frequency_high, frequency_low) -> jax.Array:
    """A boundary through the centre along ``orientation`` between two gratings: [size, size, 3].

    The ``frequency_high`` grating lies to the left of the boundary (towards
    ``orientation + 90°``), the ``frequency_low`` one to the right; both have stripes
    parallel to the boundary and phase 0 on it (see :func:`grating`), so the image is
    continuous there. The two are blended over a one-pixel linear ramp across the boundary
    (the same anti-aliasing as the strokes). ``orientation`` has period 360°.
    """
    size = _check_size(size)
    _check_params(orientation=orientation, frequency_high=frequency_high, frequency_low=frequency_low)
    x, y = _grid(size, None)
    c, s = _direction(orientation)
    side = jnp.clip(0.5 + (-s * x + c * y), 0.0, 1.0)       # 1 on the high-frequency side
    high = _sinusoid(x, y, orientation, frequency_high, 0.0)
    low = _sinusoid(x, y, orientation, frequency_low, 0.0)
    img = side * high + (1.0 - side) * low
    return jnp.repeat(img[..., None], 3, axis=-1).astype(jnp.float32)


# ---- families -------------------------------------------------------------------------------

# renderer, required parameters, optional parameters (family grids may name any of them)
FAMILIES: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]] = {
    "line": (line, ("orientation",), ("length", "width")),
    "curve": (curve, ("orientation", "radius"), ("length", "width")),
    "angle": (angle, ("orientation", "opening"), ("length", "width")),
    "grating": (grating, ("orientation", "frequency", "phase"), ()),
    "high_low": (high_low, ("orientation", "frequency_high", "frequency_low"), ()),
}


def family(name: str, size: int, **grids) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Render the cartesian product of parameter grids, vmapped (no loop over stimuli).

    Args:
      name: ``"line"``, ``"curve"``, ``"angle"``, ``"grating"`` or ``"high_low"``.
      size: image size in pixels.
      **grids: one 1-D sequence (or scalar, a grid of one) per parameter of the renderer;
        every required parameter must be given, optional ones (``length``, ``width``) may be.
        The product is taken in the order the grids are given, the last varying fastest.

    Returns:
      images [n, size, size, 3] with n = the product of the grid lengths, and
      ``{parameter: [n]}`` giving each image's parameters. ``images.reshape(*lengths,
      size, size, 3)`` recovers the grid.
    """
    if name not in FAMILIES:
        raise ValueError(f"unknown stimulus family {name!r}; choose one of {', '.join(FAMILIES)}")
    size = _check_size(size)
    fn, required, optional = FAMILIES[name]
    allowed = required + optional
    unknown = [k for k in grids if k not in allowed]
    if unknown:
        raise ValueError(f"family {name!r} takes grids over {', '.join(allowed)}; got unknown "
                         f"{', '.join(unknown)}")
    missing = [k for k in required if k not in grids]
    if missing:
        example = ", ".join(f"{k}=[...]" for k in missing)
        raise ValueError(f"family {name!r} needs a grid for {', '.join(missing)}; pass e.g. {example}")
    values = {}
    for k, v in grids.items():
        a = np.asarray(v, dtype=np.float32)
        if a.ndim > 1 or a.size == 0:
            raise ValueError(f"grid {k!r} must be a non-empty 1-D sequence (or a scalar), got shape "
                             f"{a.shape}")
        values[k] = a.reshape(-1)
    for k, v in values.items():  # whole grids checked here: under vmap the values are traced
        _PARAM_CHECKS.get(k, lambda _: None)(v)
    mesh = np.meshgrid(*values.values(), indexing="ij")
    params = {k: jnp.asarray(m.reshape(-1)) for k, m in zip(values, mesh)}
    images = _render_family(fn, size, tuple(params), tuple(params.values()))
    return images, params


def _render_family(fn, size, names, arrays):
    return _family_program(fn, size, names)(*arrays)


@functools.lru_cache(maxsize=32)
def _family_program(fn, size, names):
    return jax.jit(jax.vmap(lambda *p: fn(size, **dict(zip(names, p)))))
