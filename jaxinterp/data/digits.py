"""scikit-learn's handwritten digits (ships with scikit-learn: no download) as images.

1,797 grayscale 8×8 images with values 0..16, returned as uint8 NHWC [n, 8, 8, 1]
scaled to 0..255, with labels 0..9 and a fixed train/test split.
"""

from __future__ import annotations

import numpy as np

from jaxinterp.data.cifar10 import ImageDataset


def load_digits(split: str = "all", test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """The digits as ImageDataset(images [n, 8, 8, 1] uint8, labels [n], class_names).

    ``split``: ``"all"``, ``"train"`` or ``"test"`` (a seeded shuffle, ``test_fraction`` held out).
    """
    from sklearn.datasets import load_digits as _load

    raw = _load()
    images = np.round(raw.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = raw.target.astype(np.int64)
    names = tuple(str(i) for i in range(10))
    if split == "all":
        return ImageDataset(images, labels, names)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(test_fraction * len(images)))
    index = order[:n_test] if split == "test" else order[n_test:]
    return ImageDataset(images[index], labels[index], names)
