"""The one place jaxinterp reaches into a model while it runs.

Every access to a model's insides (taps, replaced layers, cuts, the layer graph, the
feature-visualisation convolutions) is a *handler* of module calls installed by
:func:`module_calls`, the only caller of Flax's ``nn.intercept_methods`` in the package.
Model ReLUs and max-pools are functions, not always modules; they go through the hooks
the models expose (:func:`jaxinterp.models.base.relu_override`,
:func:`jaxinterp.models.layers.max_pool_override`), which only this package sets.

Handlers nest: ``with module_calls(a), module_calls(b):`` runs ``a`` around ``b`` around
the module. Everything here acts while a function is *traced*; under ``jit`` the cost is
paid once per compiled program.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from typing import Any, Callable

import flax.linen as nn

from jaxinterp.models.base import relu_override
from jaxinterp.models.layers import max_pool_override

__all__ = ["Call", "Stop", "isolated", "max_pool_override", "module_calls", "relu_override"]

# Handlers act only in the isolation epoch they were installed in (see `isolated`).
_EPOCH: contextvars.ContextVar[int] = contextvars.ContextVar("jaxinterp_epoch", default=0)
_EPOCHS = itertools.count(1)

#: handler(call) -> the module's output; ``call.run()`` computes it as the model would.
Handler = Callable[["Call"], Any]


class Call:
    """One ``__call__`` of a named submodule: its PyTorch-style ``name``, the ``module``, its
    arguments, and :meth:`run`, which computes the output (through inner handlers)."""

    __slots__ = ("name", "module", "args", "kwargs", "_next")

    def __init__(self, name, module, args, kwargs, next_fun):
        self.name, self.module, self.args, self.kwargs, self._next = name, module, args, kwargs, next_fun

    def run(self, *args, **kwargs):
        """The module's output for these arguments (default: its own)."""
        if not args and not kwargs:
            args, kwargs = self.args, self.kwargs
        return self._next(*args, **kwargs)


class Stop(Exception):  # noqa: N818 - control flow, not an error
    """Raised by a handler to end a forward pass early (everything wanted has been seen)."""


@contextlib.contextmanager
def module_calls(handler: Handler):
    """Within this block, every named submodule's ``__call__`` goes through ``handler(call)``.

    The root module (the model itself) and other methods run unchanged.
    """

    epoch = _EPOCH.get()

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if (context.method_name != "__call__" or module.scope is None or not module.scope.path
                or _EPOCH.get() != epoch):
            return next_fun(*args, **kwargs)
        return handler(Call(".".join(module.scope.path), module, args, kwargs, next_fun))

    with nn.intercept_methods(interceptor):
        yield


@contextlib.contextmanager
def isolated():
    """Within this block the model runs as written: handlers installed outside it, ReLU and
    max-pool overrides are all off; handlers installed inside it act (for tracing the layer
    graph from inside a cut or under linear mode)."""
    token = _EPOCH.set(next(_EPOCHS))
    try:
        with relu_override(None), max_pool_override(None):
            yield
    finally:
        _EPOCH.reset(token)
