"""The one door into a model's insides.

Everything in jaxinterp that looks inside a model while it runs goes through this package,
and nothing else in jaxinterp intercepts a model:

* :func:`graph` -> :class:`LayerGraph`: names, shapes, call order, which layers end in a ReLU,
  neighbours; built once per (model, input shape). Its ``check`` is the one layer check (one
  error message, with close matches). :func:`layer_names`, :func:`layer_shapes`.
* :func:`taps`: activations of named layers (or their pre-ReLU values), the forward pass
  stopped after the last one; :func:`init_truncated` for backbones without a head.
* :mod:`~jaxinterp.door.positions`: where a unit is read (``"centre"``, ``"mean"``, ``"max"``,
  ``"all"`` or ``(row, col)``), one spelling for the package.
* Cuts: :func:`subnetwork`, :func:`linear_mode`, :func:`linearized`, :func:`dependence`,
  :func:`receptive_field`.
* For feature visualisation: :func:`redirected_relus` (Lucid's redirected ReLU gradient) and
  :func:`fast_convs` (a convolution VJP that XLA's CPU backend runs fast inside ``lax.scan``).

All of them are one mechanism, :func:`jaxinterp.door._hooks.module_calls`.
"""

from jaxinterp.door import positions
from jaxinterp.door._hooks import Stop, isolated, module_calls
from jaxinterp.door.cut import average_pool, check_cut, dependence, linear_mode, linearized, subnetwork
from jaxinterp.door.fastconv import fast_convs
from jaxinterp.door.fields import ReceptiveField, receptive_field
from jaxinterp.door.grads import redirected_relu, redirected_relus
from jaxinterp.door.graph import Layer, LayerGraph, graph, layer_names, layer_shapes
from jaxinterp.door.taps import init_truncated, taps

__all__ = [
    "Layer",
    "LayerGraph",
    "ReceptiveField",
    "Stop",
    "average_pool",
    "check_cut",
    "dependence",
    "fast_convs",
    "graph",
    "init_truncated",
    "isolated",
    "layer_names",
    "layer_shapes",
    "linear_mode",
    "linearized",
    "module_calls",
    "positions",
    "receptive_field",
    "redirected_relu",
    "redirected_relus",
    "subnetwork",
    "taps",
]
