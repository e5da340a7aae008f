"""The layer graph of a model: built once per (model, input shape), then only looked up.

::

    g = door.graph(model, variables, (32, 32, 3))
    g.names                   # ('input', 'conv1', 'bn1', ..., 'layer3', 'linear', 'logits')
    g["layer3"].shape         # (8, 8, 64): one example's activation
    g["layer3"].relu          # True: the layer's output is a ReLU's output (pre-ReLU reads differ)
    g.check(["layer3", "layer9"])   # ValueError: unknown layer 'layer9' ...; close matches ...

Layer names are the PyTorch module names (``layer1.0.conv2``, ``features.3``); ``"input"`` is
the normalised image and ``"logits"`` the output. Names are in *call order*: the order in which
the modules return during a forward pass, so every layer comes after all layers it is computed
from (``layer1.0.conv1`` ... ``layer1.0`` ... ``layer1``) and "upstream" means "earlier".
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from typing import Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.door._hooks import isolated, module_calls, relu_override

__all__ = ["Layer", "LayerGraph", "graph", "layer_names", "layer_shapes"]


@dataclasses.dataclass(frozen=True)
class Layer:
    """One capturable layer.

    name: PyTorch-style name; shape: one example's activation shape ((h, w, c) or (c,));
    calls: how often the module runs in one forward pass (a reused module keeps its last
    output); relu: whether its output is the output of a model ReLU (so its pre-ReLU value
    differs); parent: the enclosing module's name ("" at the top).
    """

    name: str
    shape: tuple
    calls: int = 1
    relu: bool = False
    parent: str = ""

    @property
    def spatial(self) -> bool:
        """Whether the activation has spatial axes (h, w, c)."""
        return len(self.shape) == 3

    @property
    def channels(self) -> int:
        return int(self.shape[-1]) if self.shape else 1


@dataclasses.dataclass(frozen=True)
class LayerGraph:
    """Every layer of ``model_name`` for inputs of ``input_shape`` ([H, W, C]), in call order."""

    model_name: str
    input_shape: tuple
    layers: tuple
    arch: str | None = None
    incomplete: str = ""   # why the variables end early (a backbone without its head)
    complete: tuple = ()   # then: every layer name of the whole model

    @functools.cached_property
    def _index(self) -> dict:
        return {layer.name: i for i, layer in enumerate(self.layers)}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def __contains__(self, name) -> bool:
        return name in self._index

    def __getitem__(self, name: str) -> Layer:
        self.check([name])
        return self.layers[self._index[name]]

    def index(self, name: str) -> int:
        """Position in call order (``input`` is 0)."""
        self.check([name])
        return self._index[name]

    def check(self, layers: Sequence[str], role: str = "layer") -> tuple[str, ...]:
        """``layers`` as a tuple, or ValueError for the first unknown name (with close matches)."""
        if isinstance(layers, str):
            layers = (layers,)
        for name in layers:
            if name not in self._index:
                raise ValueError(self._unknown(name, role))
        return tuple(layers)

    def _unknown(self, name, role: str) -> str:
        close = difflib.get_close_matches(str(name), self.names, n=4, cutoff=0.5)
        hint = f"close matches: {', '.join(close)}" if close else \
            f"top-level layers: {', '.join(n for n in self.names if '.' not in n)[:300]}"
        how = (f"`jaxinterp layers --arch {self.arch}`" if self.arch else
               "`jaxinterp.door.layer_names(model, variables, input_shape)`")
        size = "x".join(map(str, self.input_shape))
        if self.incomplete and name in self.complete:
            return (f"{role} {name!r} is not among the layers of {self.model_name} that its variables "
                    f"cover (up to {self.layers[-1].name!r}: {self.incomplete}); {hint}. Pass "
                    "variables that include it, or a layer before it")
        return (f"unknown {role} {name!r} in {self.model_name} (input {size}); {hint}. "
                f"{how} lists all {len(self.layers)} layers")

    def check_spatial(self, name: str, what: str = "this analysis") -> Layer:
        """The layer, or ValueError when it has no spatial axes."""
        layer = self[name]
        if not layer.spatial:
            raise ValueError(f"layer {name!r} has activations of shape {layer.shape} per image; "
                             f"{what} needs a layer with spatial axes [h, w, c] (a convolutional layer)")
        return layer

    def check_units(self, name: str, units) -> np.ndarray:
        """``units`` (channel indices; None for all) as int32, or ValueError naming the bad ones."""
        channels = self[name].channels
        return check_indices(units, channels, "channel", f"layer {name!r} has {channels} channels")

    def check_order(self, source: str, target: str) -> None:
        """ValueError unless ``source`` is computed before ``target`` and called once."""
        self.check([source], "source layer")
        self.check([target], "target layer")
        calls = self[source].calls
        if calls > 1:
            once = [n for n in self.names if self[n].calls == 1][-8:]
            raise ValueError(f"source layer {source!r} is called {calls} times in one forward pass, "
                             "so its output cannot be replaced by one tensor; cut at a layer called "
                             f"once (e.g. one of {', '.join(once)})")
        if self.index(source) >= self.index(target):
            raise ValueError(f"layers in the wrong order: source {source!r} is not upstream of target "
                             f"{target!r} ({source!r} is computed {'at' if source == target else 'after'} "
                             f"{target!r}); swap them or pick a source computed earlier")

    def last(self, layers: Sequence[str]) -> str:
        """Of ``layers``, the one computed last."""
        return max(self.check(layers), key=self.index)

    def children(self, name: str) -> tuple[str, ...]:
        """The layers directly inside module ``name`` ("" for the top level), in call order."""
        return tuple(layer.name for layer in self.layers if layer.parent == name
                     and layer.name not in ("input", "logits"))

    def neighbours(self, name: str) -> tuple[str | None, str | None]:
        """(previous, next) sibling of ``name`` in call order (None at either end)."""
        siblings = self.children(self[name].parent)
        i = siblings.index(name)
        return (siblings[i - 1] if i > 0 else None, siblings[i + 1] if i + 1 < len(siblings) else None)

    def table(self) -> str:
        """One line per layer: name, shape, and flags (for ``jaxinterp layers``)."""
        width = max(len(n) for n in self.names)
        rows = []
        for layer in self.layers:
            flags = [f for f, on in (("relu", layer.relu), (f"x{layer.calls}", layer.calls > 1)) if on]
            rows.append(f"{layer.name:<{width}}  {str(tuple(layer.shape)):<16} {' '.join(flags)}".rstrip())
        return "\n".join(rows)


def _shape_key(variables) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(variables)
    return treedef, tuple((tuple(np.shape(x)), str(getattr(x, "dtype", type(x).__name__))) for x in leaves)


@functools.lru_cache(maxsize=64)
def _build(model, input_shape: tuple, variables: "_Frozen") -> LayerGraph:
    order: list[str] = []
    info: dict[str, dict] = {}
    relu_outputs: list = []

    def record_relu(x):
        out = jax.nn.relu(x)
        relu_outputs.append(out)
        return out

    def handler(call):
        before = len(relu_outputs)
        out = call.run()
        entry = info.setdefault(call.name, {"calls": 0})
        entry["calls"] += 1
        if isinstance(out, jax.Array) or hasattr(out, "shape"):
            entry["shape"] = tuple(out.shape[1:])
            # a ReLU run inside this call made the output (not one whose output passed through)
            entry["relu"] = any(o is out for o in relu_outputs[before:])
        if call.name not in order:
            order.append(call.name)
        return out

    def probe(v, x):
        with isolated(), relu_override(record_relu), module_calls(handler):
            return model.apply(v, x)

    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    incomplete = ""
    try:
        logits = jax.eval_shape(probe, variables.spec, x)
    except flax.errors.ScopeParamNotFoundError as err:  # variables without the head: a backbone
        logits, incomplete = None, str(err).split(" (https")[0]
    layers = [Layer("input", tuple(input_shape))]
    for name in order:
        entry = info[name]
        if "shape" not in entry:  # a module that returns no single array (not capturable)
            continue
        layers.append(Layer(name, entry["shape"], entry["calls"], bool(entry["relu"]),
                            name.rpartition(".")[0]))
    if logits is not None:
        layers.append(Layer("logits", tuple(logits.shape[1:])))
    from jaxinterp.models.registry import name_of

    complete = ()
    if incomplete:  # which names the whole model has, to tell "not covered" from "unknown"
        spec = jax.eval_shape(lambda k: model.init(k, jnp.zeros(x.shape, x.dtype)), jax.random.key(0))
        complete = graph(model, spec, input_shape).names
    return LayerGraph(type(model).__name__, tuple(input_shape), tuple(layers), name_of(model), incomplete,
                      complete)


def graph(model, variables, input_shape: Sequence[int]) -> LayerGraph:
    """The :class:`LayerGraph` of ``model`` for one input of ``input_shape`` ([H, W, C]).

    Traced once (``jax.eval_shape``, no arithmetic) and cached per (model, input shape, the
    shapes of ``variables``): asking again costs a dictionary lookup.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be one image's [H, W, C], got {input_shape}; e.g. (32, 32, 3)")
    spec = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), variables)
    return _build(model, input_shape, _Frozen(spec, _shape_key(variables)))


class _Frozen:
    """Variables' shapes as a hashable cache argument (equal when the shapes are)."""

    __slots__ = ("spec", "key")

    def __init__(self, spec, key):
        self.spec, self.key = spec, key

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Frozen) and other.key == self.key


def layer_names(model, variables, input_shape: Sequence[int]) -> list[str]:
    """Every capturable layer name of ``model``, in call order (``input`` first, ``logits`` last).

    input_shape: one image's [H, W, C] (a leading batch axis, [n, H, W, C], is accepted).
    """
    return list(graph(model, variables, _one(input_shape)).names)


def layer_shapes(model, variables, input_shape: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """``{layer: activation shape}`` with a batch axis, for inputs of ``input_shape`` ([n, H, W, C])."""
    shape = tuple(input_shape)
    n, one = (shape[0], shape[1:]) if len(shape) == 4 else (1, shape)
    g = graph(model, variables, one)
    return {layer.name: (n, *layer.shape) for layer in g.layers}


def _one(input_shape) -> tuple:
    shape = tuple(input_shape)
    return shape[1:] if len(shape) == 4 else shape


def check_indices(units, count: int, what: str, has: str) -> np.ndarray:
    """``units`` (None: all ``count``) as int32 indices in [0, count), or ValueError naming the bad
    ones; ``what`` names one index ("channel") and ``has`` says how many there are ("layer 'x' has
    64 channels")."""
    if units is None:
        return np.arange(count, dtype=np.int32)
    u = np.asarray(units).reshape(-1)
    if u.size == 0 or not np.issubdtype(u.dtype, np.integer):
        raise ValueError(f"units must be a non-empty sequence of {what} indices, got {units!r}")
    bad = u[(u < 0) | (u >= count)]
    if bad.size:
        raise ValueError(f"unit(s) {bad[:8].tolist()} out of range: {has} (valid 0..{count - 1})")
    return u.astype(np.int32)
