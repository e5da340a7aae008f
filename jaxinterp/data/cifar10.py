"""CIFAR-10 in its standard python-pickle layout, or as ``.npz`` arrays.

The official ``cifar-10-python.tar.gz`` unpacks to ``cifar-10-batches-py/`` with
``data_batch_1`` … ``data_batch_5``, ``test_batch`` and ``batches.meta``; each
batch is a pickled dict with ``b"data"`` (10000 × 3072 uint8, each row the
1024 red, then green, then blue values of a 32×32 image) and ``b"labels"``.
:func:`load_cifar10` reads that folder, its parent, the ``.tar.gz`` itself, or
an ``.npz`` with ``images`` (uint8 NHWC) and ``labels``.
"""

from __future__ import annotations

import codecs
import os
import pickle
import tarfile
from pathlib import Path
import numpy as np

from jaxinterp.data.checks import as_class_indices
from jaxinterp.data.npz import ImageDataset, load_npz
from jaxinterp.models.classes import CIFAR10 as CLASS_NAMES

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
__all__ = ["CLASS_NAMES", "FOLDER", "ImageDataset", "batch_files", "find_folder", "load_cifar10",
           "load_npz", "write_cifar10_batch"]


def _decode_batch(raw: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.asarray(raw[b"data"], dtype=np.uint8)
        labels = np.asarray(raw.get(b"labels", raw.get(b"fine_labels")), dtype=np.int64)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"{where} is not a CIFAR-10 batch: expected a pickled dict with b'data' "
            f"(n x 3072 uint8) and b'labels' ({err})"
        ) from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(
            f"{where}: expected b'data' of shape (n, 3072) and n labels, got {data.shape} "
            f"and {len(labels)} labels"
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The only globals a CIFAR batch pickle names: numpy's array and scalar rebuilders.

    Python 2 pickles (the official files) and numpy 1 name ``numpy.core``, numpy 2
    ``numpy._core``; both map to this numpy's functions. ``_codecs.encode`` and
    ``bytes`` are how Python 3 writes ``bytes`` at pickle protocols 0-2.
    """
    core = getattr(np, "_core", None) or np.core
    found = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
        ("__builtin__", "bytes"): bytes,
        ("builtins", "bytes"): bytes,
    }
    for package in ("numpy.core", "numpy._core"):
        found[(f"{package}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        found[(f"{package}.multiarray", "scalar")] = core.multiarray.scalar
        found[(f"{package}.numeric", "_frombuffer")] = core.numeric._frombuffer  # protocol 5
    return found


class _Disallowed(pickle.UnpicklingError):
    pass


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, str, numbers and numpy arrays; refuses every other global,
    so a crafted file cannot call ``os.system`` or anything else on load."""

    allowed = _allowed_globals()

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise _Disallowed(f"{module}.{name}") from None


def _unpickle(fileobj, where: str) -> dict:
    try:
        return _BatchUnpickler(fileobj, encoding="bytes").load()
    except _Disallowed as err:
        raise ValueError(f"{where} is not a CIFAR-10 batch: it holds a disallowed object ({err}); a CIFAR "
                         "batch holds only dicts, lists, bytes, numbers and numpy arrays. Do not load "
                         "this file from an untrusted source") from None
    except Exception as err:  # any unpickling failure means "not a CIFAR batch"
        raise ValueError(f"{where} is not a readable CIFAR-10 batch file ({type(err).__name__})") from None


def find_folder(path: str | os.PathLike) -> Path | None:
    """The ``cifar-10-batches-py`` folder at ``path`` or inside it, or None."""
    path = Path(path)
    for candidate in (path, path / FOLDER):
        if (candidate / "batches.meta").exists() or (candidate / "test_batch").exists():
            return candidate
    return None


def batch_files(split: str) -> tuple[str, ...]:
    """The batch files of ``split`` ("train" or "test")."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return TRAIN_BATCHES if split == "train" else TEST_BATCHES


def _find_folder(path: Path) -> Path:
    found = find_folder(path)
    if found is not None:
        return found
    raise FileNotFoundError(
        f"no CIFAR-10 batches in {path}: expected {FOLDER}/ with data_batch_1..5, test_batch "
        "and batches.meta (as unpacked from cifar-10-python.tar.gz), or an .npz file"
    )


def _class_names(meta: dict | None) -> tuple[str, ...]:
    if meta and b"label_names" in meta:
        return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"])
    return CLASS_NAMES


def load_cifar10(path: str | os.PathLike, split: str = "test") -> ImageDataset:
    """Read CIFAR-10 ``split`` ("train" or "test") from ``path``.

    Args:
      path: the ``cifar-10-batches-py`` folder, its parent, ``cifar-10-python.tar.gz``,
        or an ``.npz`` file with ``images`` [n, 32, 32, 3] uint8 and ``labels`` [n].
      split: ``"train"`` (50,000 images) or ``"test"`` (10,000); ignored for ``.npz``.

    Returns:
      ImageDataset(images [n, 32, 32, 3] uint8, labels [n] int64, class_names).
    """
    names = batch_files(split)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix == ".npz":
        return load_npz(path)
    if path.is_file() and tarfile.is_tarfile(path):
        with tarfile.open(path) as tar:
            def read(name):
                member = tar.extractfile(f"{FOLDER}/{name}")
                if member is None:
                    raise FileNotFoundError(f"{path} has no {FOLDER}/{name}")
                return _unpickle(member, f"{path}:{name}")

            batches = [_decode_batch(read(n), f"{path}:{n}") for n in names]
            try:
                meta = read("batches.meta")
            except (KeyError, FileNotFoundError):
                meta = None
    else:
        folder = _find_folder(path)
        missing = [n for n in names if not (folder / n).exists()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks {', '.join(missing)} for split {split!r}")
        batches = []
        for n in names:
            with open(folder / n, "rb") as f:
                batches.append(_decode_batch(_unpickle(f, str(folder / n)), str(folder / n)))
        meta = None
        if (folder / "batches.meta").exists():
            with open(folder / "batches.meta", "rb") as f:
                meta = _unpickle(f, str(folder / "batches.meta"))
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    return ImageDataset(images, labels, _class_names(meta))


def write_cifar10_batch(path: str | os.PathLike, images: np.ndarray, labels, batch_label: str = "") -> None:
    """Write ``images`` [n, 32, 32, 3] uint8 and ``labels`` [n] in the official batch format."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(
            f"images must be uint8 [n, 32, 32, 3] (NHWC CIFAR-10 pixels), got {images.dtype} "
            f"{images.shape}; convert with (images01 * 255).round().astype(np.uint8)"
        )
    labels = as_class_indices(labels, len(images))
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    record = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(x) for x in labels],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    with open(path, "wb") as f:
        pickle.dump(record, f)
