"""One door for datasets: a path (and an optional labels file) -> a source, by what the path is.

=============  =====================================================  =======================
kind           the path                                               labels
=============  =====================================================  =======================
``folder``     a folder with one subfolder of images per class        the class folders
``csv``        a folder of images                                     ``labels``: a CSV of
                                                                      ``file,label`` rows
``npz``        ``.npz`` with ``images`` [n, h, w, c] (and ``labels``)  inside it
``cifar10``    ``cifar-10-batches-py``, its parent, or the ``.tar.gz``  inside it (``split``)
``npy``        ``.npy`` of images [n, h, w, c] (memory-mapped)         ``labels``: an ``.npy``
``arrayrecord`` ``.array_record`` of encoded images (one file each)    ``labels``: an ``.npy``
=============  =====================================================  =======================

Folders and ArrayRecord hold encoded images: they go through ``preprocess`` (the model's
:class:`~jaxinterp.models.base.Preprocess`). Arrays are taken as they are.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from jaxinterp.data import cifar10, folder
from jaxinterp.data import fingerprint as fp
from jaxinterp.data.decode import Preprocess
from jaxinterp.data.npz import load_npz
from jaxinterp.data.sources import ArrayData, EncodedImages

ENCODED = ("folder", "csv", "arrayrecord")
EXPECTED = ("a dataset: a folder with one subfolder of images per class (ImageNet's layout); a folder of "
            "images with a labels CSV of file,label rows; an .npz with 'images' [n, h, w, c] and "
            "'labels' [n]; CIFAR-10 batches (cifar-10-batches-py, its parent, or cifar-10-python.tar.gz); "
            "an .npy of images [n, h, w, c] (labels: an .npy of [n] integers); or an .array_record file "
            "of encoded images")

__all__ = ["ENCODED", "EXPECTED", "data_fingerprint", "data_kind", "open_data"]


def _expand(path, labels) -> tuple[Path, Path | None]:
    """``path`` and ``labels`` with ``~`` expanded (the shell leaves it in ``--labels=~/x.csv``)."""
    return Path(path).expanduser(), None if labels is None else Path(labels).expanduser()


def data_kind(path: str | os.PathLike, labels: str | os.PathLike | None = None) -> str:
    """Which kind of dataset ``path`` is (see the module docstring); checks ``labels`` fits it."""
    path, labels = _expand(path, labels)
    if not path.exists():
        raise FileNotFoundError(f"no data at {path}; pass {EXPECTED}")
    if path.is_dir():
        kind = "cifar10" if cifar10.find_folder(path) else ("csv" if labels is not None else "folder")
    else:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        name = path.name.lower()
        if magic[:2] == b"PK":
            kind = "npz"
        elif magic == b"\x93NUMPY":
            kind = "npy"
        elif name.endswith((".array_record", ".arrayrecord")):
            kind = "arrayrecord"
        elif name.endswith((".tar.gz", ".tgz", ".tar")) and tarfile.is_tarfile(path):
            kind = "cifar10"
        else:
            raise ValueError(f"{path} is not a dataset jaxinterp reads; pass {EXPECTED}")
    wants = {"csv": ".csv", "npy": ".npy", "arrayrecord": ".npy"}
    if labels is not None and kind not in wants:
        where = {"folder": "its class folders", "npz": "its 'labels' array",
                 "cifar10": "its batches"}[kind]
        raise ValueError(f"{path} carries its own labels ({where}); leave out the labels file {labels}")
    if labels is not None and not labels.is_file():
        raise FileNotFoundError(f"no labels file at {labels}; pass a {wants[kind]} file")
    return kind


def _labels_npy(labels: Path | None):
    """The array in a labels ``.npy`` (checked by the source it labels), or None."""
    return None if labels is None else np.load(labels, allow_pickle=False)


def open_data(path: str | os.PathLike, labels: str | os.PathLike | None = None, split: str = "test",
              preprocess: Preprocess | None = None, **kw) -> ArrayData | EncodedImages:
    """The dataset at ``path`` as a streaming source with ``labels`` and ``class_names``.

    Args:
      path: any kind in the module docstring.
      labels: the labels CSV of a flat image folder, or the labels ``.npy`` of an ``.npy`` of
        images or an ArrayRecord file (None: no labels).
      split: CIFAR-10 batches: "test" (10,000 images) or "train" (50,000).
      preprocess: the model's resize and crop for encoded images (folders, ArrayRecord).
      kw: ``threads``, ``prefetch`` of an :class:`~jaxinterp.data.sources.EncodedImages`.
    """
    path, labels = _expand(path, labels)
    kind = data_kind(path, labels)
    if kind == "folder":
        return folder.image_folder(path, preprocess, **kw)
    if kind == "csv":
        return folder.image_csv(path, labels, preprocess, **kw)
    if kind == "arrayrecord":
        return folder.array_record(path, _labels_npy(labels), preprocess, **kw)
    if kind == "npz":
        ds = load_npz(path)
        return ArrayData(ds.images, ds.labels, ds.class_names, f"images in {path.name}")
    if kind == "cifar10":
        ds = cifar10.load_cifar10(path, split)
        return ArrayData(ds.images, ds.labels, ds.class_names, f"CIFAR-10 {split} images")
    images = np.load(path, mmap_mode="r", allow_pickle=False)
    return ArrayData(images, _labels_npy(labels), None, f"images in {path.name}")


def data_fingerprint(path: str | os.PathLike, labels: str | os.PathLike | None = None,
                     split: str = "test") -> str:
    """The content fingerprint of the dataset at ``path`` (:mod:`jaxinterp.data.fingerprint`):
    the same wherever it is mounted, cheap at every start."""
    path, labels = _expand(path, labels)
    kind = data_kind(path, labels)
    if kind in ("folder", "csv"):
        return folder.fingerprint(path, labels)
    if kind == "cifar10" and path.is_dir():
        where = cifar10.find_folder(path)
        files = [*cifar10.batch_files(split), "batches.meta"]  # the meta file holds the class names
        parts = [fp.file_fingerprint(where / name) for name in files if (where / name).exists()]
    else:
        parts = [fp.file_fingerprint(path)]
    if labels is not None:
        parts.append(fp.file_fingerprint(labels))
    return ":".join(parts)
