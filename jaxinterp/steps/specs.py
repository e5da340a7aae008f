"""What a task reads from outside the store: a dataset and a model, named by content.

A spec is a frozen dataclass that goes into task configs, so its fields are what a task's key
hashes. A :class:`DataSpec` holds the data's kind, its fingerprint
(:func:`jaxinterp.data.data_fingerprint`: file contents, or a folder's file names, sizes and
times), the image limit, the CIFAR split and the model's preprocessing, but not where the data
lies: replacing the data under the same path changes every key downstream, and the same data
mounted at another path on another host gives the same keys, so a store made on one host is
reused on the other. A :class:`ModelSpec` hashes its weights' files' content (:func:`fingerprint`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from jaxinterp.models.base import Preprocess

RANDOM = "random:"
DIGITS = "digits:"


def fingerprint(path: str | os.PathLike) -> str:
    """The content of a file, or of every file (relative path and content) under a directory: 16
    hex digits of sha256 (:mod:`jaxinterp.data.fingerprint`: each file read once per host, then
    cached, so a big weights folder is not read again at every start)."""
    from jaxinterp.data import fingerprint as fp

    path = Path(path).expanduser()
    if path.is_file():
        return fp.file_fingerprint(path)[:16]
    if path.is_dir():
        return fp.tree_fingerprint(path)[:16]
    raise FileNotFoundError(f"no file or directory at {path}")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A dataset, by content (make one with :func:`data_spec`).

    kind: how it is read (:func:`jaxinterp.data.data_kind`: "folder", "csv", "npz", "npy",
      "cifar10", "arrayrecord", or "digits" for scikit-learn's digits); fingerprint: its content;
      limit: the first N images (None: all); split: CIFAR-10's or the digits' "test"/"train";
      preprocess: the model's resize and crop applied to encoded images (None for arrays).
    ``path`` and ``labels_path`` (where it lies on this host) are kept beside the fields, not in
    them, so they never enter a task's key.
    """

    kind: str
    fingerprint: str
    limit: int | None = None
    split: str = ""
    preprocess: Preprocess | None = None
    location: dataclasses.InitVar[tuple] = ("", None)

    def __post_init__(self, location):
        object.__setattr__(self, "_location", tuple(location))

    @property
    def path(self) -> str:
        """Where the data lies on this host (``"digits:test"`` for the digits)."""
        return self._location[0]

    @property
    def labels_path(self) -> str | None:
        return self._location[1]

    @property
    def name(self) -> str:
        """The file or folder name of the data (for messages and pages)."""
        return Path(self.path).name


def data_spec(path: str | os.PathLike, limit: int | None = None, labels: str | os.PathLike | None = None,
              split: str = "test", preprocess: Preprocess | None = None) -> DataSpec:
    """A :class:`DataSpec` with its content fingerprint; checks the data, labels and limit now.

    Args:
      path: a dataset of any kind :func:`jaxinterp.data.open_data` reads, or ``"digits:train"``
        / ``"digits:test"`` (scikit-learn's digits).
      limit: use only the first ``limit`` images (None: all).
      labels: a labels CSV (flat image folder) or ``.npy`` (``.npy`` images, ArrayRecord).
      split: CIFAR-10 batches: "test" or "train".
      preprocess: the model's ``PREPROCESS`` (resize, crop) for image files; arrays are taken as
        they are, so it is dropped for them.
    """
    from jaxinterp.data import data_fingerprint, data_kind
    from jaxinterp.data.open import ENCODED

    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images or None (all), got {limit}")
    text = str(path)
    if text.startswith(DIGITS):
        digits_split = text[len(DIGITS):]
        if digits_split not in ("train", "test"):
            raise ValueError(f"digits data is 'digits:train' or 'digits:test', got {text!r}")
        return DataSpec("digits", "sklearn-digits", limit, digits_split, location=(text, None))
    p = Path(text).expanduser().absolute()
    labels = None if labels is None else str(Path(labels).expanduser().absolute())
    kind = data_kind(p, labels)
    digest = hashlib.sha256(data_fingerprint(p, labels, split).encode()).hexdigest()[:16]
    return DataSpec(kind, digest, limit, split if kind == "cifar10" else "",
                    Preprocess(*preprocess) if preprocess is not None and kind in ENCODED else None,
                    location=(str(p), labels))


def open_source(spec: DataSpec):
    """The images of ``spec`` as a streaming source (:mod:`jaxinterp.data.sources`) with
    ``labels`` and ``class_names``: decoded batch by batch, never all in memory."""
    return _open_source(spec, spec._location)


@functools.lru_cache(maxsize=4)
def _open_source(spec: DataSpec, location: tuple):
    from jaxinterp.data import ArrayData, load_digits, open_data

    if spec.kind == "digits":
        ds = load_digits(spec.split)
        source = ArrayData(np.asarray(ds.images), np.asarray(ds.labels), None, f"digits {spec.split}")
    else:
        source = open_data(spec.path, spec.labels_path, spec.split or "test", spec.preprocess)
    if spec.limit is not None:
        if spec.limit > source.num_images:
            raise ValueError(f"limit {spec.limit} is more than the {source.num_images} images in {spec.path}")
        source = source.take(spec.limit)
    return source


@functools.lru_cache(maxsize=4)
def load_data(spec: DataSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """(images [n, h, w, c] as stored or decoded, labels [n] or None), all in memory: for the
    analyses that need every image at once (similarities, exemplars). Streamed passes use
    :func:`open_source`."""
    from jaxinterp.data.checks import check_images

    source = open_source(spec)
    if hasattr(source, "images"):
        images = np.asarray(source.images)
    else:
        images = np.empty((source.num_images, *source.image_shape), source.dtype)
        start = 0
        for batch in source.batches(256):
            images[start:start + len(batch)] = batch
            start += len(batch)
    check_images(images)
    images.setflags(write=False)
    return images, source.labels


def check_data_for_model(model: ModelSpec, data: DataSpec) -> None:
    """Refuse data the model was not made for, before any work: other channels, images of
    another size than its ``INPUT_SIZE`` (not resized silently: resize the data file, or use
    image files and a model that declares a ``PREPROCESS``), or labels outside its classes
    (:func:`jaxinterp.data.checks.check_fits_model`). Reads no image but the first."""
    from jaxinterp import models
    from jaxinterp.data.checks import check_fits_model

    source = open_source(data)
    check_fits_model((source.num_images, *source.image_shape), source.labels, models.get(model.arch),
                     model.arch, f"images in {data.name}")


def images01(spec: DataSpec) -> np.ndarray:
    """The images of ``spec`` as float32 in [0, 1]."""
    from jaxinterp.data.checks import to_unit_float

    return to_unit_float(load_data(spec)[0])


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """arch: a registered architecture; params: ``"random:SEED"`` (random weights: for tests and
    timing only, and every result says so) or ``"weights"`` (files named by ``fingerprint``).
    ``path`` (a directory from ``jaxinterp convert``, or a PyTorch checkpoint file .th/.pt/.pth,
    converted on load; needs torch) is kept beside the fields, out of task keys, as in
    :class:`DataSpec`."""

    arch: str
    params: str
    fingerprint: str = ""
    location: dataclasses.InitVar[str] = ""

    def __post_init__(self, location):
        object.__setattr__(self, "_location", str(location))

    @property
    def random(self) -> bool:
        return self.params.startswith(RANDOM)

    @property
    def path(self) -> str:
        """Where the weights lie on this host ("" for random weights)."""
        return self._location


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
    return ModelSpec(arch, "weights", fingerprint(p), location=str(p))


def load_model(spec: ModelSpec):
    """(model, variables) for ``spec``."""
    return _load_model(spec, spec.path)


@functools.lru_cache(maxsize=4)
def _load_model(spec: ModelSpec, location: str):
    import jax

    from jaxinterp import models
    from jaxinterp.checkpoint import load_variables

    model = models.get(spec.arch)
    if spec.random:
        return model, models.init(model, jax.random.key(int(spec.params[len(RANDOM):])))
    path = Path(spec.path)
    if path.is_file():
        from converters import convert

        return model, convert(path, spec.arch)
    variables, meta = load_variables(path)
    if meta.get("arch", spec.arch) != spec.arch:
        raise ValueError(f"{path} holds weights for {meta['arch']!r}, not {spec.arch!r}; "
                         f"pass arch={meta['arch']!r} or other weights")
    return model, variables
