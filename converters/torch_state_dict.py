"""PyTorch checkpoints (``.pt``, ``.pth``, ``.th``) -> Flax variables of a jaxinterp model.

Flax module paths mirror PyTorch module names, so the mapping is mechanical:

=====================  ==========================  =========================
Flax leaf              PyTorch key                 transform
=====================  ==========================  =========================
params/a/b/kernel 4-D  a.b.weight  [O, I, H, W]    -> [H, W, I, O]
params/a/b/kernel 2-D  a.b.weight  [out, in]       -> [in, out]
params/a/b/bias        a.b.bias                    as is
params/a/b/scale       a.b.weight  (BatchNorm)     as is
batch_stats/a/b/mean   a.b.running_mean            as is
batch_stats/a/b/var    a.b.running_var             as is
(none)                 a.b.num_batches_tracked     ignored
=====================  ==========================  =========================

Every key must map: unknown and missing keys are refused by name, and shapes
are checked, so a checkpoint of another architecture is named as such. A
model may list ``IGNORED_CHECKPOINT_PREFIXES`` (GoogLeNet: its training-only
auxiliary heads ``aux1.``/``aux2.``) that are dropped instead.

torch is imported only inside :func:`load_state_dict`, and only with
``torch.load(..., weights_only=True)``: no code in a checkpoint is executed.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.models.base import ImageModel

SUFFIXES = (".pt", ".pth", ".th")
WRAPPER_KEYS = ("state_dict", "model")
_SHOWN = 8  # how many offending keys an error message lists


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that does not fit the architecture."""


def _first(items, formatter=str) -> str:
    items = list(items)
    shown = ", ".join(formatter(item) for item in items[:_SHOWN])
    more = f" (and {len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return shown + more


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a PyTorch checkpoint as ``{torch key: float32 array}``.

    Accepts a bare state_dict, ``{"state_dict": ...}`` or ``{"model": ...}``
    (other entries such as ``best_prec1`` are ignored), and strips the
    ``module.`` prefix that ``DataParallel`` adds.

    Raises:
      FileNotFoundError: no file at ``path``.
      CheckpointError: the file is not a ``torch.save`` file of a state_dict, saying why.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    problem = _format_problem(path)
    if problem is None:
        import torch  # only converters need torch

        try:
            return _as_state_dict(torch.load(path, map_location="cpu", weights_only=True), path)
        except CheckpointError:
            raise
        except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
            problem = _load_problem(err)
    raise CheckpointError(
        f"{path} is not a readable PyTorch checkpoint: expected a file written by torch.save "
        f"holding a state_dict, but {problem}"
    ) from None


def _format_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a ``torch.save`` file, judged from its bytes; None if it may be."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        return "the file is empty. Fix: re-create or re-download it."
    if head.startswith(b"PK"):  # torch >= 1.6 writes a zip archive holding <name>/data.pkl
        try:
            with zipfile.ZipFile(path) as archive:
                members = archive.namelist()
        except zipfile.BadZipFile:
            return (
                "it is a damaged zip archive (truncated or corrupted). "
                "Fix: re-download or re-save the checkpoint."
            )
        if not any(m.endswith("data.pkl") for m in members):
            return (
                f"it is a zip archive of {_first(members, repr)} without data.pkl "
                "(a NumPy .npz or another format?). Fix: pass the .pt/.pth/.th file that "
                "torch.save wrote."
            )
        return None
    if head[:1] == b"\x80":  # a pickle: the format of torch.save before 1.6
        return None
    kind = "text" if all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "binary data"
    return (
        f"it begins with {head!r} ({kind}), while torch.save files begin with b'PK' (zip) "
        "or b'\\x80' (pickle). Fix: pass the .pt/.pth/.th file that torch.save wrote."
    )


def _load_problem(err: Exception) -> str:
    """A short diagnosis of an exception raised by ``torch.load(weights_only=True)``."""
    text = str(err).strip()
    if isinstance(err, EOFError) or "EOF" in text or "central directory" in text:
        return "the file ends early (truncated). Fix: re-download or re-save the checkpoint."
    if "Weights only load failed" in text:
        return (
            "it holds Python objects besides tensors (a whole pickled model?), which "
            "weights_only=True refuses to execute. Fix: load it where its code is trusted and "
            "re-save the weights with torch.save(model.state_dict(), path)."
        )
    first = text.splitlines()[0][:200].rstrip(".") if text else ""
    return (
        f"torch.load(weights_only=True) failed with {type(err).__name__}: {first}. "
        "Fix: check that the file is complete and was written by torch.save."
    )


def _as_state_dict(obj: Any, path: Path) -> dict[str, np.ndarray]:
    import torch

    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(
            f"{path} holds a {type(obj).__name__}, not a state_dict: expected a non-empty mapping "
            f"of parameter names to tensors (optionally under {' or '.join(map(repr, WRAPPER_KEYS))}). "
            "Fix: save the weights with torch.save(model.state_dict(), path)."
        )
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"{path} does not look like a state_dict: entries {_first(not_tensors, repr)} are not "
            f"tensors (top-level keys: {_first(obj, repr)}). Fix: save "
            "torch.save(model.state_dict(), path), or a dict with the state_dict under 'state_dict'."
        )
    out = {}
    for key, tensor in obj.items():
        key = key[len("module."):] if key.startswith("module.") else key
        value = tensor.detach().cpu()
        out[key] = value.float().numpy() if value.is_floating_point() else value.numpy()
    return out


def _rule(collection: str, leaf: str, ndim: int) -> tuple[str, Any, Any] | None:
    """(torch suffix, flax->torch shape map, torch->flax array map) for one Flax leaf."""
    if collection == "params" and leaf == "kernel" and ndim == 4:
        return "weight", lambda s: (s[3], s[2], s[0], s[1]), lambda a: a.transpose(2, 3, 1, 0)
    if collection == "params" and leaf == "kernel" and ndim == 2:
        return "weight", lambda s: (s[1], s[0]), lambda a: a.T
    same = (lambda s: tuple(s), lambda a: a)
    if collection == "params" and leaf in ("bias", "scale"):
        return ("bias" if leaf == "bias" else "weight", *same)
    if collection == "batch_stats" and leaf in ("mean", "var"):
        return ("running_" + leaf, *same)
    return None


def torch_layout(model: ImageModel, input_size: int | None = None) -> dict[str, tuple]:
    """``{torch key: (flax path, torch shape, torch->flax map)}`` for every variable of ``model``."""
    size = input_size or model.INPUT_SIZE or 32
    x = jnp.zeros((1, size, size, model.IN_CHANNELS), jnp.float32)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    leaves = jax.tree_util.tree_flatten_with_path(shapes)[0]
    leaves.sort(key=lambda item: _natural([p.key for p in item[0]]))
    layout = {}
    for path, leaf in leaves:
        names = [p.key for p in path]
        rule = _rule(names[0], names[-1], len(leaf.shape))
        if rule is None:
            raise TypeError(f"no PyTorch equivalent for Flax variable {'/'.join(names)} {leaf.shape}")
        suffix, torch_shape, to_flax = rule
        key = ".".join(names[1:-1] + [suffix])
        layout[key] = (tuple(names), tuple(torch_shape(leaf.shape)), to_flax)
    return layout


def _natural(names: list[str]) -> tuple:
    """Sort key of a Flax leaf path: modules by name with numbers as numbers, params first."""
    parts = tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in names[1:-1])
    return parts, names[0] != "params", names[-1]


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value


ARCH_FIX = "pass the --arch the checkpoint was trained as (see `jaxinterp.models.names()`)"


def to_variables(
    state_dict: Mapping[str, np.ndarray], model: ImageModel, arch: str | None = None,
    fix: str = ARCH_FIX,
) -> dict:
    """Map a state_dict onto ``model``'s variables ``{"params": ..., "batch_stats": ...}``.

    ``fix`` ends the error message: what the caller should do (default: the ``convert`` CLI's ``--arch``).

    Raises:
      CheckpointError: naming missing keys, unexpected keys and mismatched shapes.
    """
    arch = arch or type(model).__name__
    layout = torch_layout(model)
    ignored = tuple(getattr(model, "IGNORED_CHECKPOINT_PREFIXES", ()))
    given = {
        k: v for k, v in state_dict.items()
        if not k.endswith("num_batches_tracked") and not (ignored and k.startswith(ignored))
    }
    missing = [k for k in layout if k not in given]
    unexpected = [k for k in given if k not in layout]
    mismatched = [
        (k, tuple(given[k].shape), layout[k][1])
        for k in layout if k in given and tuple(given[k].shape) != layout[k][1]
    ]
    if missing or unexpected or mismatched:
        problems = []
        if mismatched:
            problems.append(
                f"{len(mismatched)} shape mismatch(es) (checkpoint vs {arch}): "
                + _first(mismatched, lambda m: f"{m[0]} {m[1]} vs {m[2]}")
            )
        if missing:
            problems.append(f"{len(missing)} missing key(s): {_first(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected key(s): {_first(unexpected)}")
        raise CheckpointError(
            f"checkpoint does not fit architecture {arch!r} ({len(layout)} tensors expected, "
            f"{len(given)} given): " + "; ".join(problems)
            + f". Fix: {fix}."
        )
    variables: dict = {}
    for key, (path, _, to_flax) in layout.items():
        _set(variables, path, jnp.asarray(np.ascontiguousarray(to_flax(given[key])), jnp.float32))
    return variables


def convert(path: str | os.PathLike, arch: str, fix: str = ARCH_FIX) -> dict:
    """Read the PyTorch checkpoint at ``path`` as variables of the registered model ``arch``
    (``fix``: the advice that ends a does-not-fit error)."""
    from jaxinterp import models

    model = models.get(arch)
    return to_variables(load_state_dict(path), model, arch, fix)
