"""Images and labels packed in one ``.npz`` (``np.savez(path, images=..., labels=...)``), checked.

The one reader of ``.npz`` datasets in jaxinterp: commands, steps and :func:`load_cifar10` use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxinterp.data.checks import as_class_indices, check_images, check_labels, check_unit_range

EXPECTED = ("an .npz archive written with np.savez(path, images=..., labels=...): 'images' "
            "[n, h, w, c] NHWC, uint8 0..255 or float 0..1; 'labels' integers [n]")

__all__ = ["EXPECTED", "ImageDataset", "load_npz"]


class ImageDataset(NamedTuple):
    """images: [n, h, w, c] uint8 (or float32 in [0, 1]); labels: [n] int64 (or None);
    class_names: tuple of str (or None)."""

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None = None


def load_npz(path: str | os.PathLike, num_classes: int | None = None) -> ImageDataset:
    """Images [n, h, w, c] (uint8 0..255, or float32 in [0, 1]), labels [n] (if stored) and
    ``class_names`` (if stored) from ``path``, checked.

    The labels must be class indices 0..num_classes-1: ``num_classes`` is the model's class count
    when given, else the number of stored ``class_names`` (if any). Callers convert the images
    with :func:`jaxinterp.data.checks.to_unit_float`, which handles both dtypes.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an .npz file; pass {EXPECTED}")
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}; pass {EXPECTED}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] != b"PK":  # every .npz is a zip archive
        kind = " (it is a single-array .npy file)" if magic[:4] == b"\x93NUM" else ""
        raise ValueError(f"{path} is not an .npz archive{kind}; expected {EXPECTED}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz archive ({type(err).__name__}); expected "
                         f"{EXPECTED}") from None
    with data:
        if "images" not in data.files:
            raise ValueError(f"{path} has arrays {sorted(data.files)}; expected 'images' (uint8 or float "
                             "[n, h, w, c]) and 'labels' ([n]): save with "
                             "np.savez(path, images=..., labels=...)")
        try:
            images = data["images"]
            labels = data["labels"] if "labels" in data.files else None
            names = tuple(str(s) for s in data["class_names"]) if "class_names" in data.files else None
        except ValueError as err:  # object arrays need pickle: refused, without numpy's advice
            raise ValueError(f"{path} holds object (pickled) arrays, which are not loaded; store "
                             f"numeric arrays: {EXPECTED}") from err
    if images.ndim == 4 and images.shape[0] == 0:
        raise ValueError(f"{path} holds 0 images (images shape {images.shape}); an analysis needs "
                         "at least one image")
    check_images(images, name=f"images in {path.name}")
    check_unit_range(images, name=f"images in {path.name}")
    if labels is not None:
        labels = as_class_indices(labels, len(images), f"labels in {path.name}")
        if num_classes is None and names:
            check_labels(labels, len(names), f"labels in {path.name}", f"{path.name}'s class_names")
        else:
            check_labels(labels, num_classes, f"labels in {path.name}")
    if images.dtype != np.uint8:
        images = images.astype(np.float32)
    return ImageDataset(images, labels, names)
