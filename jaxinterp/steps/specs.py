"""What a task reads from outside the store: a data file and a model, named by content.

A spec is a frozen dataclass that goes into task configs. Its ``fingerprint``
hashes the file's content (or a checkpoint directory's files), so replacing the
data or the weights under the same path changes every key downstream, while a
copy of the same file elsewhere would not (the path is part of the spec, so it
does; the fingerprint guards the content).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from pathlib import Path

import numpy as np

RANDOM = "random:"
DIGITS = "digits:"


def _file_digest(path: Path, h) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def fingerprint(path: str | os.PathLike) -> str:
    """sha256 of a file, or of every file (name and content) under a directory."""
    path = Path(path).expanduser()
    h = hashlib.sha256()
    if path.is_file():
        _file_digest(path, h)
    elif path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            _file_digest(f, h)
    else:
        raise FileNotFoundError(f"no file or directory at {path}")
    return h.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """path: an .npz with ``images`` (NHWC, uint8 0..255 or float 0..1) and ``labels``, or
    ``"digits:train"`` / ``"digits:test"`` (scikit-learn's digits); limit: the first N images."""

    path: str
    limit: int | None = None
    fingerprint: str = ""


def data_spec(path: str | os.PathLike, limit: int | None = None) -> DataSpec:
    """A :class:`DataSpec` with its content fingerprint; checks the file and the limit now."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images or None (all), got {limit}")
    text = str(path)
    if text.startswith(DIGITS):
        split = text[len(DIGITS):]
        if split not in ("train", "test"):
            raise ValueError(f"digits data is 'digits:train' or 'digits:test', got {text!r}")
        return DataSpec(text, limit, "sklearn-digits")
    p = Path(text).expanduser().absolute()
    if not p.is_file():
        raise FileNotFoundError(f"no data file at {p}; pass an .npz with 'images' [n, h, w, c] and 'labels' [n]")
    return DataSpec(str(p), limit, fingerprint(p))


@functools.lru_cache(maxsize=4)
def load_data(spec: DataSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """(images [n, h, w, c] as stored, labels [n] or None), checked."""
    from jaxinterp.data.checks import check_images

    if spec.path.startswith(DIGITS):
        from jaxinterp.data import load_digits

        ds = load_digits(spec.path[len(DIGITS):])
        images, labels = np.asarray(ds.images), np.asarray(ds.labels)
    else:
        from jaxinterp.commands.evaluate import load_npz

        images, labels = load_npz(Path(spec.path))
    if spec.limit is not None:
        if spec.limit > len(images):
            raise ValueError(f"limit {spec.limit} is more than the {len(images)} images in {spec.path}")
        images, labels = images[: spec.limit], (None if labels is None else labels[: spec.limit])
    check_images(images)
    images.setflags(write=False)
    return images, labels


def check_data_for_model(model: ModelSpec, data: DataSpec) -> None:
    """Refuse data the model was not made for, before any work: other channels, images of
    another size than its ``INPUT_SIZE`` (not resized silently: resize the data file), or
    labels outside its classes (:func:`jaxinterp.data.checks.check_fits_model`)."""
    from jaxinterp import models
    from jaxinterp.data.checks import check_fits_model

    images, labels = load_data(data)
    check_fits_model(images, labels, models.get(model.arch), model.arch,
                     f"images in {Path(data.path).name}")


def images01(spec: DataSpec) -> np.ndarray:
    """The images of ``spec`` as float32 in [0, 1]."""
    from jaxinterp.data.checks import to_unit_float

    return to_unit_float(load_data(spec)[0])


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """arch: a registered architecture; params: a directory from ``jaxinterp convert``, a PyTorch
    checkpoint file (.th/.pt/.pth, converted on load; needs torch), or ``"random:SEED"`` (random
    weights: for tests and timing only, and every result says so)."""

    arch: str
    params: str
    fingerprint: str = ""

    @property
    def random(self) -> bool:
        return self.params.startswith(RANDOM)


def model_spec(arch: str, params: str | os.PathLike) -> ModelSpec:
    """A :class:`ModelSpec` with its weights' fingerprint; checks the name and the path now."""
    from jaxinterp import models

    models.get(arch)  # unknown names list the known ones
    text = str(params)
    if text.startswith(RANDOM):
        int(text[len(RANDOM):])
        return ModelSpec(arch, text, "random")
    p = Path(text).expanduser().absolute()
    if not p.exists():
        raise FileNotFoundError(f"no weights at {p}; pass a directory from `jaxinterp convert` or a "
                                "PyTorch checkpoint file")
    return ModelSpec(arch, str(p), fingerprint(p))


@functools.lru_cache(maxsize=4)
def load_model(spec: ModelSpec):
    """(model, variables) for ``spec``."""
    import jax

    from jaxinterp import models
    from jaxinterp.checkpoint import load_variables

    model = models.get(spec.arch)
    if spec.random:
        return model, models.init(model, jax.random.key(int(spec.params[len(RANDOM):])))
    path = Path(spec.params)
    if path.is_file():
        from converters import convert

        return model, convert(path, spec.arch)
    variables, meta = load_variables(path)
    if meta.get("arch", spec.arch) != spec.arch:
        raise ValueError(f"{path} holds weights for {meta['arch']!r}, not {spec.arch!r}; "
                         f"pass arch={meta['arch']!r} or other weights")
    return model, variables
