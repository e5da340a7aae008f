"""Datasets as sources for the streaming engine (:mod:`jaxinterp.stream.sources`), with labels.

Two kinds, both readable from any position and in any process's share of each batch:

* :class:`ArrayData`: images already in an array [n, H, W, C] (an ``.npz`` loaded, CIFAR-10
  batches, a memory-mapped ``.npy`` read one batch at a time). Taken as they are: no resizing.
* :class:`EncodedImages`: image files (JPEG, PNG, ...) or encoded records (ArrayRecord), decoded
  with Pillow by a pool of threads (grain's ``ReadOptions``) that reads ahead of the device, in a
  fixed order, holding at most ``prefetch`` decoded images. Each image goes through the model's
  :class:`~jaxinterp.models.base.Preprocess` (resize, centre crop) when one is given; without one,
  every image must have the size of the first (the error names a file of each size).

Both carry ``labels`` ([n] int64 or None) and ``class_names`` (the dataset's own, or None), and
``take(m)`` gives the first ``m`` images. :func:`jaxinterp.data.open_data` picks the kind by path.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence

import numpy as np

from jaxinterp.data.checks import as_class_indices
from jaxinterp.data.decode import Preprocess, decode, decoded_shape
from jaxinterp.stream.sources import ArraySource, shares

__all__ = ["ArrayData", "EncodedImages"]


class ArrayData(ArraySource):
    """Images [n, H, W, C] uint8 (0..255) or float (0..1) in an array-like (``np.memmap`` reads
    lazily), ``labels`` [n] or None, ``class_names`` or None."""

    def __init__(self, images, labels=None, class_names: Sequence[str] | None = None, name: str = "images"):
        super().__init__(images, name)
        self.labels = (None if labels is None
                       else as_class_indices(labels, self.num_images, f"labels of {name}"))
        self.class_names = None if class_names is None else tuple(class_names)
        self.name = name

    def take(self, m: int) -> "ArrayData":
        """The first ``m`` images."""
        return ArrayData(self.images[:m], None if self.labels is None else self.labels[:m],
                         self.class_names, self.name)

    def __repr__(self):
        return f"ArrayData({self.name}: {self.num_images} x {self.image_shape} {self.dtype})"


def _threads() -> int:
    """Decoding threads: every core but one (the host also feeds the device), at least 2."""
    return max(2, min(32, (os.cpu_count() or 2) - 1))


class EncodedImages:
    """Images named by ``names`` (for errors) and read by ``read(i)`` (a path or the encoded
    bytes), decoded with Pillow; see the module docstring.

    Args:
      names: one name per image (file paths), or a function ``name(i)`` with ``count`` images
        (an ArrayRecord's "shard record i": formatted only for an error, never held n times).
      read: ``read(i)`` -> the path or bytes of image ``i``; called from several threads.
      labels: [n] class indices, or None.
      class_names: the dataset's class names (folder names), or None.
      preprocess: the model's resize and crop, or None (images must share one size).
      threads: decoding threads (default: one per core, less one).
      prefetch: decoded images held ahead of the consumer (default: two batches, at least 64).
      count: the number of images when ``names`` is a function.
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, names: Sequence[str] | Callable[[int], str], read: Callable[[int], str | bytes],
                 labels=None, class_names: Sequence[str] | None = None, preprocess: Preprocess | None = None,
                 threads: int | None = None, prefetch: int | None = None, what: str = "images",
                 count: int | None = None):
        if callable(names) and count is None:
            raise TypeError("EncodedImages(names=<function>, ...) needs count=<number of images>")
        self.name = names if callable(names) else names.__getitem__
        self.num_images = count if callable(names) else len(names)
        if not self.num_images:
            raise ValueError(f"{what} holds no images")
        self._read = read
        self.labels = (None if labels is None
                       else as_class_indices(labels, self.num_images, f"labels of {what}"))
        self.class_names = None if class_names is None else tuple(class_names)
        self.preprocess = preprocess
        self.threads = threads or _threads()
        self.prefetch = prefetch
        self.what = what
        self.image_shape = decoded_shape(read(0), self.name(0), preprocess)  # the header alone

    def read(self, i: int) -> np.ndarray:
        """Image ``i`` decoded (and preprocessed): uint8 [H, W, 3]."""
        image = decode(self._read(i), self.name(i), self.preprocess)
        if image.shape != self.image_shape:
            (h, w), (fh, fw) = image.shape[:2], self.image_shape[:2]
            raise ValueError(
                f"images of different sizes in {self.what}: {self.name(i)} is {h}x{w}, {self.name(0)} "
                f"is {fh}x{fw}; without a model's resizing (its PREPROCESS) every image must have one size: "
                f"resize them to one size first, or pass a model that declares a Preprocess")
        return image

    def batches(self, batch_size: int, start: int = 0, rows: tuple[int, int] | None = None
                ) -> Iterator[np.ndarray]:
        """Decoded batches [b, H, W, 3] uint8 (see :class:`jaxinterp.stream.Source`), read ahead
        by ``threads`` threads into a buffer of ``prefetch`` images, in index order."""
        import grain

        spans = list(shares(self.num_images, batch_size, start, rows))
        if not spans:
            return
        order = np.concatenate([np.arange(first, stop) for first, stop in spans])
        lengths = [stop - first for first, stop in spans]
        images = grain.MapDataset.source(order).map(lambda i: self.read(int(i)))
        ahead = self.prefetch or max(64, 2 * lengths[0])  # the next batch decodes while one runs
        images = iter(images.to_iter_dataset(grain.ReadOptions(num_threads=self.threads,
                                                                prefetch_buffer_size=ahead)))
        for length in lengths:  # every span but the last has the same length
            yield np.stack([next(images) for _ in range(length)])

    def take(self, m: int) -> "EncodedImages":
        """The first ``m`` images."""
        out = object.__new__(EncodedImages)
        out.__dict__.update(self.__dict__, num_images=min(m, self.num_images),
                            labels=None if self.labels is None else self.labels[:m])
        return out

    def __repr__(self):
        return f"EncodedImages({self.what}: {self.num_images} x {self.image_shape})"
