"""Objectives to maximise: small factories that compose with ``+ - * /`` and scalars.

An :class:`Objective` maps ``acts`` (``{layer: activation [b, ...]}``, plus ``"input"``:
the [b, h, w, c] image in [0, 1] before the transforms) to a scalar::

    obj = objectives.channel("layer3", 7) - 0.05 * objectives.total_variation()
    obj = objectives.channels("layer3", range(64))    # image i maximises channel i
    obj.value(acts), obj.layers, str(obj)

Formulas follow Lucid's ``objectives.py`` (METHODS §6.1): ``channel`` is the mean over
batch and positions, ``neuron`` the centre position (lower-right of the centre 2x2 for
even sizes), ``direction`` the mean dot product (optionally times cosine^p).

Unit indices, direction vectors and scalar weights are *data* (``obj.args``), while the
layer names and the kind of each term are *structure*: two objectives that differ only
in data compare equal, so :func:`jaxinterp.featvis.render` compiles once for both.
:meth:`Objective.check` validates indices and widths against the layer shapes before
anything is compiled.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Acts = Mapping[str, jax.Array]


class Objective:
    """``fn(acts, args) -> scalar`` with its data ``args``, the ``layers`` it reads, a hashable
    ``structure`` (equality and hashing) and a ``description``; ``check(shapes, args)`` raises a
    ``ValueError`` for indices or widths that do not fit the layer shapes."""

    def __init__(self, fn: Callable, args: Any, layers: Sequence[str], structure: tuple,
                 description: str, check: Callable | None = None):
        self.fn, self.args, self.layers = fn, args, tuple(dict.fromkeys(layers))
        self.structure, self.description = structure, description
        self._check = check

    def value(self, acts: Acts, args: Any = None) -> jax.Array:
        return self.fn(acts, self.args if args is None else args)

    __call__ = value

    def check(self, shapes: Mapping[str, tuple]) -> None:
        """Raise ``ValueError`` if this objective does not fit ``{layer: shape}``."""
        if self._check is not None:
            self._check(shapes, self.args)

    def __hash__(self):
        return hash(self.structure)

    def __eq__(self, other):
        return isinstance(other, Objective) and other.structure == self.structure

    def __repr__(self):
        return self.description

    # arithmetic: scalars become data so changing a weight does not recompile
    def _combine(self, other, op: str, sym: str):
        ops = {"add": jnp.add, "mul": jnp.multiply}
        if isinstance(other, Objective):
            a, b = self, other

            def fn(acts, args):
                return ops[op](a.fn(acts, args[0]), b.fn(acts, args[1]))

            def check(shapes, args):
                a._check and a._check(shapes, args[0])
                b._check and b._check(shapes, args[1])

            return Objective(fn, (a.args, b.args), a.layers + b.layers, (op, a.structure, b.structure),
                             f"({a} {sym} {b})", check)
        if isinstance(other, (int, float, np.number)) or (hasattr(other, "shape") and other.shape == ()):
            a = self

            def fn_c(acts, args):
                return ops[op](a.fn(acts, args[0]), args[1])

            def check_c(shapes, args):
                a._check and a._check(shapes, args[0])

            return Objective(fn_c, (a.args, jnp.float32(other)), a.layers, (op + "_scalar", a.structure),
                             f"({a} {sym} {float(other):g})", check_c)
        return NotImplemented

    def __add__(self, other):
        return self._combine(other, "add", "+")

    __radd__ = __add__

    def __mul__(self, other):
        return self._combine(other, "mul", "·")

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other if isinstance(other, Objective) else -float(other))

    def __rsub__(self, other):
        return (-self) + other

    def __truediv__(self, other):
        if isinstance(other, Objective):
            return NotImplemented
        return self * (1.0 / float(other))


# --- shape checks -------------------------------------------------------------------------


def _channels(shapes, layer: str, spatial: bool = False) -> int:
    """Width of ``layer`` from its shape; refuses layers without a channel axis."""
    shape = tuple(shapes[layer])
    ok = len(shape) == 4 or (len(shape) == 2 and not spatial)
    if not ok:
        want = "[n, h, w, c] (a convolutional layer)" if spatial else "[n, h, w, c] or [n, c]"
        raise ValueError(f"layer {layer!r} gives activations of shape {shape}, which have no channel "
                         f"axis of the kind this objective needs: expected {want}; pick another layer "
                         "(jaxinterp.door.layer_names lists them)")
    return shape[-1]


def _check_units(layer: str, spatial: bool = False, batched: bool = False):
    def check(shapes, units):
        c = _channels(shapes, layer, spatial)
        u = np.asarray(units)
        if u.size and (u.min() < 0 or u.max() >= c):
            raise ValueError(f"unit index {int(u.max() if u.max() >= c else u.min())} is out of range "
                             f"for layer {layer!r}, which has {c} channels (valid: 0..{c - 1})")
        if batched and u.shape[0] != shapes[layer][0]:
            raise ValueError(f"{u.shape[0]} units for a batch of {shapes[layer][0]} images; render "
                             f"one image per unit (param.image(..., batch={u.shape[0]}))")
    return check


def _check_vectors(layer: str, batched: bool = False):
    def check(shapes, args):
        vec = args[0] if isinstance(args, tuple) else args
        c = _channels(shapes, layer)
        if vec.shape[-1] != c:
            raise ValueError(f"direction of width {vec.shape[-1]} for layer {layer!r} of width {c}; "
                             f"directions must be [{c}] (or [k, {c}]) in that layer's activation space")
        if batched and vec.shape[0] != shapes[layer][0]:
            raise ValueError(f"{vec.shape[0]} directions for a batch of {shapes[layer][0]} images; "
                             f"render one image per direction (param.image(..., batch={vec.shape[0]}))")
    return check


def _centre(a):
    return a.shape[1] // 2, a.shape[2] // 2


def _as_int(n, what="unit"):
    if isinstance(n, (bool, float)) or not float(n).is_integer():
        raise ValueError(f"{what} index must be an integer, got {n!r}")
    return jnp.int32(int(n))


# --- unit objectives ----------------------------------------------------------------------


def channel(layer: str, n: int, batch: int | None = None) -> Objective:
    """Mean of channel ``n`` of ``layer`` over positions and the batch (or batch element ``batch``)."""

    def fn(acts, idx):
        a = acts[layer] if batch is None else acts[layer][batch:batch + 1]
        return jnp.mean(jnp.take(a, idx, axis=-1))

    return Objective(fn, _as_int(n), [layer], ("channel", layer, batch), f"Channel({layer}, {n})",
                     _check_units(layer))


def neuron(layer: str, n: int, x: int | None = None, y: int | None = None,
           batch: int | None = None) -> Objective:
    """Channel ``n`` at one position (default the centre; Lucid's x indexes rows), summed over the batch."""

    def fn(acts, idx):
        a = acts[layer] if batch is None else acts[layer][batch:batch + 1]
        cx, cy = _centre(a)
        return jnp.sum(jnp.take(a[:, cx if x is None else x, cy if y is None else y], idx, axis=-1))

    return Objective(fn, _as_int(n), [layer], ("neuron", layer, x, y, batch), f"Neuron({layer}, {n})",
                     _check_units(layer, spatial=True))


def _dot_cossim(a, vec, cossim_pow: float):
    dot = jnp.sum(a * jnp.broadcast_to(vec, a.shape), -1)
    if cossim_pow == 0:
        return dot
    cos = dot / (1e-4 + jnp.sqrt(jnp.sum(a * a, -1))) / (1e-4 + jnp.sqrt(jnp.sum(vec * vec, -1)))
    return dot * jnp.maximum(0.1, cos) ** cossim_pow


def direction(layer: str, vec, batch: int | None = None, cossim_pow: float = 0.0) -> Objective:
    """Mean over batch and positions of ``<act, vec>`` (times ``max(0.1, cos)^cossim_pow``).

    vec: [c], e.g. a row of ``directions`` from a K-means or SAE fit (:func:`vectors`).
    """
    vec = jnp.asarray(vec, jnp.float32)
    if vec.ndim != 1:
        raise ValueError(f"direction needs one vector [c], got shape {vec.shape}; use directions() "
                         "for one direction per batch element")

    def fn(acts, v):
        a = acts[layer] if batch is None else acts[layer][batch:batch + 1]
        return jnp.mean(_dot_cossim(a, v, cossim_pow))

    return Objective(fn, vec, [layer], ("direction", layer, batch, cossim_pow),
                     f"Direction({layer})", _check_vectors(layer))


# --- one unit per batch element -------------------------------------------------------------


def _per_image_mean(a):
    return a.reshape(a.shape[0], -1, a.shape[-1]).mean(axis=1)  # [b, c]


def channels(layer: str, units: Sequence[int]) -> Objective:
    """Image i maximises channel ``units[i]``: sum over i of its spatial mean. [b] units for b images."""
    units = jnp.asarray(np.asarray(list(units), np.int32))

    def fn(acts, idx):
        m = _per_image_mean(acts[layer])
        return jnp.sum(jnp.take_along_axis(m, idx[:, None], axis=1))

    return Objective(fn, units, [layer], ("channels", layer), f"Channels({layer}, {len(units)} units)",
                     _check_units(layer, batched=True))


def neurons(layer: str, units: Sequence[int]) -> Objective:
    """Image i maximises channel ``units[i]`` at the centre position."""
    units = jnp.asarray(np.asarray(list(units), np.int32))

    def fn(acts, idx):
        a = acts[layer]
        cx, cy = _centre(a)
        return jnp.sum(jnp.take_along_axis(a[:, cx, cy], idx[:, None], axis=1))

    return Objective(fn, units, [layer], ("neurons", layer), f"Neurons({layer}, {len(units)} units)",
                     _check_units(layer, spatial=True, batched=True))


def directions(layer: str, vecs, cossim_pow: float = 0.0) -> Objective:
    """Image i maximises direction ``vecs[i]`` ([b, c]): sum over i of its mean ``<act, vec_i>``."""
    vecs = jnp.asarray(vecs, jnp.float32)
    if vecs.ndim != 2:
        raise ValueError(f"directions needs [k, c] vectors, one per image, got shape {vecs.shape}")

    def fn(acts, v):
        a = acts[layer]
        v = v.reshape((v.shape[0],) + (1,) * (a.ndim - 2) + (v.shape[1],))
        dots = _dot_cossim(a, v, cossim_pow)
        return jnp.sum(dots.reshape(dots.shape[0], -1).mean(axis=1))

    return Objective(fn, vecs, [layer], ("directions", layer, cossim_pow),
                     f"Directions({layer}, {vecs.shape[0]})", _check_vectors(layer, batched=True))


def vectors(method: str, state) -> np.ndarray:
    """[k, d] direction vectors of a fitted :mod:`jaxinterp.directions` state (K-means centroids,
    SAE decoder rows, PCA components...)."""
    from jaxinterp.directions import registry

    return np.asarray(registry.get(method).directions(state))


# --- penalties and regularisers -------------------------------------------------------------


def l1(layer: str = "input", constant: float = 0.0) -> Objective:
    """Sum of ``|T(layer) - constant|``."""
    return Objective(lambda acts, c: jnp.sum(jnp.abs(acts[layer] - c)), jnp.float32(constant), [layer],
                     ("l1", layer), f"L1({layer})")


def l2(layer: str = "input", constant: float = 0.0, epsilon: float = 1e-6) -> Objective:
    """``sqrt(epsilon + sum (T(layer) - constant)²)``."""
    return Objective(lambda acts, c: jnp.sqrt(epsilon + jnp.sum((acts[layer] - c) ** 2)),
                     jnp.float32(constant), [layer], ("l2", layer, epsilon), f"L2({layer})")


def total_variation(layer: str = "input") -> Objective:
    """``tf.image.total_variation`` summed over the batch: sum of absolute neighbour differences."""

    def fn(acts, _):
        a = acts[layer]
        return jnp.sum(jnp.abs(a[:, 1:] - a[:, :-1])) + jnp.sum(jnp.abs(a[:, :, 1:] - a[:, :, :-1]))

    return Objective(fn, (), [layer], ("total_variation", layer), f"TotalVariation({layer})")


def blur(x: jax.Array, w: int = 3) -> jax.Array:
    """Lucid's ``_tf_blur``: per-channel box-ish blur (border weights 0.5, inside 1), SAME, normalised."""
    k = np.full((w, w), 0.5, np.float32)
    k[1:-1, 1:-1] = 1.0
    c = x.shape[-1]
    kernel = jnp.asarray(np.tile(k[:, :, None, None], (1, 1, 1, c)))

    def conv(t):
        return jax.lax.conv_general_dilated(t, kernel, (1, 1), "SAME", feature_group_count=c,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    return conv(x) / conv(jnp.ones_like(x))


def blur_input_each_step() -> Objective:
    """``0.5·sum (x - stop_gradient(blur(x)))²`` on the input; maximising ``-k·this`` blurs each step."""

    def fn(acts, _):
        x = acts["input"]
        return 0.5 * jnp.sum((x - jax.lax.stop_gradient(blur(x))) ** 2)

    return Objective(fn, (), ["input"], ("blur_input_each_step",), "BlurInputEachStep()")


def diversity(layer: str, group: int | None = None) -> Objective:
    """Lucid's ``diversity``: mean over images of the summed cosine similarity of their Gram
    matrices with every other image's; subtract it to make a batch diverse.

    group: the batch is consecutive sets of ``group`` images (set i: images ``i·group`` to
    ``(i+1)·group - 1``, e.g. one set per unit), each made diverse on its own: the sum over sets
    of each set's diversity. None: the whole batch is one set (Lucid's).
    """

    def fn(acts, _):
        a = acts[layer]
        f = a.reshape(a.shape[0], -1, a.shape[-1])
        g = jnp.einsum("bpc,bpd->bcd", f, f).reshape(a.shape[0], -1)
        g = g / jnp.sqrt(jnp.maximum(jnp.sum(g * g, axis=1, keepdims=True), 1e-10))
        size = group or a.shape[0]
        sets = g.reshape(a.shape[0] // size, size, -1)
        s = jnp.einsum("sic,sjc->sij", sets, sets)
        return jnp.sum(jnp.sum(s, axis=(1, 2)) - jnp.trace(s, axis1=1, axis2=2)) / size

    def check(shapes, _):
        b = tuple(shapes[layer])[0]
        if group is not None and (group < 1 or b % group):
            raise ValueError(f"diversity(group={group}) needs a batch of whole sets, got {b} images; "
                             f"render {group} images per unit (param.image(..., batch=units·{group}))")

    return Objective(fn, (), [layer], ("diversity", layer, group), f"Diversity({layer})", check)
