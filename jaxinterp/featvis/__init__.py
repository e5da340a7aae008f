"""Feature visualisation (Lucid's method, METHODS §6.1), batched over many units at once.

Building blocks only: parametrisations (:mod:`param`), transforms (:mod:`transforms`),
objectives (:mod:`objectives`) and the optimisation loop (:func:`render`)::

    from jaxinterp.featvis import objectives, param, render, transforms

    obj = objectives.channels("layer3", range(64))           # image i maximises channel i
    out = render(key, model, variables, obj, param.image(key, 32, batch=64), transforms.cifar())
    # the commands' defaults for the model (CIFAR transforms and the data's colours at 32 px):
    out = render(key, model, variables, obj, param.for_model(key, model, batch=64, images01=cifar01))

The ``jaxinterp featvis`` command's tasks and page are in :mod:`jaxinterp.recipes.featvis`
and :mod:`jaxinterp.report.featvis`.
"""

from jaxinterp.featvis import objectives, param, transforms
from jaxinterp.featvis.objectives import Objective
from jaxinterp.door.grads import redirected_relu
from jaxinterp.featvis.render import Rendered, layer_shapes, render

__all__ = [
    "Objective",
    "Rendered",
    "layer_shapes",
    "objectives",
    "param",
    "redirected_relu",
    "render",
    "transforms",
]
