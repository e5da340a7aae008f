"""Where the streaming engine reads images from.

A *source* is anything with

* ``image_shape``: one image's [H, W, C]; ``dtype``: uint8 (0..255) or float (0..1);
* ``num_images``: how many images (None when unknown until the end);
* ``batches(batch_size, start=0, rows=None)``: an iterator of host arrays [b, H, W, C],
  b = batch_size except for the last, beginning at image ``start`` (so a pass can resume).
  With ``rows=(lo, hi)`` it yields only rows ``lo:hi`` of each of those batches (image
  ``start + k * batch_size + lo`` onwards, cut at ``num_images``; batches left empty are not
  yielded): the share of one process in a pass over several (:func:`jaxinterp.stream.stream_map`),
  so each process reads only its own images.

:func:`as_source` turns an in-memory array, a ``np.memmap`` (or anything with ``shape``,
``dtype`` and slicing) into an :class:`ArraySource`, and an iterable of batches into an
:class:`IterableSource`. Reading is lazy: a memory-mapped file is read one batch at a time, and
the pages of a read-only ``np.memmap`` are released from the process once their batch is used.
"""

from __future__ import annotations

import mmap
from typing import Iterable, Iterator, Protocol, runtime_checkable

import numpy as np

from jaxinterp.data.checks import check_images

__all__ = ["ArraySource", "IterableSource", "Source", "as_source", "images_at", "shares"]


@runtime_checkable
class Source(Protocol):
    image_shape: tuple
    dtype: np.dtype
    num_images: int | None

    def batches(self, batch_size: int, start: int = 0, rows: tuple[int, int] | None = None
                ) -> Iterator[np.ndarray]: ...


def shares(num_images: int, batch_size: int, start: int = 0, rows: tuple[int, int] | None = None
           ) -> Iterator[tuple[int, int]]:
    """(first, stop) image indices of each batch of ``batch_size`` from ``start`` (its rows
    ``lo:hi`` only, given ``rows``), skipping empty ones: what ``batches`` reads."""
    lo, hi = rows or (0, batch_size)
    for i in range(start, num_images, batch_size):
        first, stop = i + lo, min(i + hi, num_images)
        if first < stop:
            yield first, stop


class ArraySource:
    """Images in an array-like [n, H, W, C] (numpy, ``np.memmap``, jax): read by slicing."""

    def __init__(self, images, name: str = "images"):
        check_images(images, name=name)
        self.images = images
        self.image_shape = tuple(int(s) for s in images.shape[1:])
        self.dtype = np.dtype(images.dtype)
        self.num_images = int(images.shape[0])

    def batches(self, batch_size: int, start: int = 0, rows: tuple[int, int] | None = None
                ) -> Iterator[np.ndarray]:
        for first, stop in shares(self.num_images, batch_size, start, rows):
            part = self.images[first:stop]
            if getattr(part, "_mmap", None) is None:
                yield np.asarray(part)
            else:  # a copy, so no device buffer aliases the mapping, whose pages then go at once
                batch = np.array(part)
                _release(part)
                yield batch

    def __repr__(self):
        return f"ArraySource({self.num_images} x {self.image_shape} {self.dtype})"


def images_at(data, idx) -> np.ndarray:
    """The images at indices ``idx`` [m] of ``data`` (an array-like, an :class:`ArraySource`, or a
    source with ``read(i)``, such as a folder of image files): a few random reads for exemplars,
    never the whole dataset. Returns [m, H, W, C] as stored."""
    idx = np.asarray(idx, np.int64).reshape(-1)
    if isinstance(data, ArraySource):
        data = data.images
    if hasattr(data, "shape"):
        return np.asarray(data[idx])
    if hasattr(data, "read"):
        return np.stack([data.read(int(i)) for i in idx]) if len(idx) else np.zeros((0, *data.image_shape), np.uint8)
    raise TypeError(f"cannot read single images from {type(data).__name__}; pass an array or a source "
                    "with read(i) (jaxinterp.data.open_data)")


def _release(rows) -> None:
    """Drop the pages of ``rows``, a slice of a read-only ``np.memmap`` that has been copied,
    from this process's mapping: the kernel reads them again if they are touched, so a pass over
    a file does not leave the whole file resident in the process (its peak RSS would otherwise
    grow with the bytes read, not with what the pass holds)."""
    mm = getattr(rows, "_mmap", None)
    if (mm is None or getattr(rows, "mode", None) != "r" or not hasattr(mm, "madvise")
            or not rows.flags.c_contiguous or rows.size == 0):
        return
    start = rows.ctypes.data - np.frombuffer(mm, np.uint8).ctypes.data
    first = start - start % mmap.PAGESIZE
    mm.madvise(mmap.MADV_DONTNEED, first, start + rows.nbytes - first)


class IterableSource:
    """Images from an iterable of batches [b_i, H, W, C] (any sizes), regrouped to the engine's
    batch size. ``image_shape``/``dtype`` are read from the first batch; ``num_images`` may be
    given when known (a progress bar then shows it)."""

    def __init__(self, batches: Iterable, num_images: int | None = None):
        self._iterable = batches
        self._iter = iter(batches)
        try:
            first = np.asarray(next(self._iter))
        except StopIteration:
            raise ValueError("the iterable of image batches is empty; pass at least one batch") from None
        check_images(first, name="the first batch")
        self._first = first
        self.image_shape = tuple(int(s) for s in first.shape[1:])
        self.dtype = first.dtype
        self.num_images = num_images

    def batches(self, batch_size: int, start: int = 0, rows: tuple[int, int] | None = None
                ) -> Iterator[np.ndarray]:
        """Regroups the iterable into batches; with ``rows`` every batch is still read (an
        iterable cannot skip) and only its rows ``lo:hi`` are yielded."""
        lo, hi = rows or (0, batch_size)
        if self._first is None:
            raise ValueError("an IterableSource can be read once; wrap a re-iterable (a list of "
                             "batches) or a memory-mapped array to stream it again")
        pending, have, skipped = [], 0, 0
        chunks = (np.asarray(b) for b in _chain(self._first, self._iter))
        self._first = None
        for chunk in chunks:
            if chunk.shape[1:] != self.image_shape or chunk.dtype != self.dtype:
                raise ValueError(f"every batch must be [b, {', '.join(map(str, self.image_shape))}] "
                                 f"{self.dtype}, got {chunk.shape} {chunk.dtype}")
            if skipped < start:
                drop = min(start - skipped, len(chunk))
                chunk, skipped = chunk[drop:], skipped + drop
            pending.append(chunk)
            have += len(chunk)
            while have >= batch_size:
                cat = np.concatenate(pending) if len(pending) > 1 else pending[0]
                yield cat[lo:hi]
                rest = cat[batch_size:]
                pending, have = ([rest] if len(rest) else []), len(rest)
        if have:
            tail = np.concatenate(pending)[lo:hi]
            if len(tail):
                yield tail


def _chain(first, rest):
    yield first
    yield from rest


def as_source(data, name: str = "images") -> Source:
    """``data`` as a :class:`Source`: a source unchanged, an array-like as :class:`ArraySource`,
    an iterable of batches as :class:`IterableSource`."""
    if isinstance(data, Source):
        return data
    if hasattr(data, "shape") and hasattr(data, "dtype"):
        return ArraySource(data, name)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
        return IterableSource(data)
    raise ValueError(f"{name} must be an image array [n, H, W, C] (numpy, np.memmap, jax), an iterable "
                     f"of such batches, or a jaxinterp.stream source; got {type(data).__name__}")
