"""Image files as a dataset: a folder in ImageNet's layout, a flat folder with a CSV, ArrayRecord.

* :func:`image_folder`: ``root/<class>/.../<image>``, one subfolder per class. Class folders
  sorted by name are labels 0, 1, 2, ... (so an ImageNet folder, whose class folders are WordNet
  ids, gets ImageNet's class indices) and their names are the ``class_names``. Images are read
  in order of class, then path. An **empty class folder keeps its index** (labels still index the
  model's classes, as when a folder holds a subset of ImageNet's classes) and is warned about.
  Image files directly in ``root`` are not in a class and are not read (warned about).
* :func:`image_csv`: the files a CSV names, ``file,label`` per row (paths relative to ``root``;
  a first row whose label is not an integer is a header), in the CSV's order.
* :func:`array_record`: an ArrayRecord file (grain's format for pods) whose records are the
  bytes of encoded images (a JPEG or PNG file each), labels from an optional ``.npy``.

Each gives an :class:`~jaxinterp.data.sources.EncodedImages` source; :func:`fingerprint` names
the files' content cheaply (:mod:`jaxinterp.data.fingerprint`).
"""

from __future__ import annotations

import csv
import functools
import os
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxinterp.data import fingerprint as fp
from jaxinterp.data.decode import EXTENSIONS, Preprocess, is_image_file
from jaxinterp.data.sources import EncodedImages

__all__ = ["Listing", "array_record", "fingerprint", "image_csv", "image_folder", "list_csv", "list_folder"]


class Listing(NamedTuple):
    """files: absolute paths in read order (a tuple); labels [n] int64, read-only; class_names (or
    None). Shared by every source opened from one listing (see _listing)."""

    files: list
    labels: np.ndarray
    class_names: tuple | None


def _images_under(folder: str, watched: list[str]) -> list[str]:
    found = []
    for here, dirs, files in os.walk(folder, followlinks=True):
        watched.append(here)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(os.path.join(here, f) for f in files if is_image_file(f))
    return sorted(found)


# One listing per process per (root, table): data_spec's fingerprint and open_source's source
# share it, so a folder of a million images on NFS is walked once per start, not twice, and its
# warnings print once. It is reused while every folder walked (and the CSV) stats as it did, and
# only if none had changed within fingerprint.SETTLE_SECONDS of the walk: a folder's modification
# time ticks coarsely, so a file added in the walk's tick would otherwise go unseen.
_LISTINGS: dict[tuple, tuple[tuple, Listing]] = {}
_KEPT = 4


def _stamps(paths) -> tuple:
    return tuple((st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino) for st in map(os.stat, paths))


def _listing(kind: str, root, table, walk) -> Listing:
    """``walk(root, table, watched)`` -> Listing, run once while the ``watched`` paths it names
    (folders read, the CSV) keep their stats (see above)."""
    key = (kind, os.path.abspath(os.path.expanduser(root)),
           None if table is None else os.path.abspath(os.path.expanduser(table)))
    if key in _LISTINGS:
        (paths, stamps, settled_before), listing = _LISTINGS[key]
        try:
            if _stamps(paths) == stamps and max(max(s[:2]) for s in stamps) < settled_before:
                return listing
        except OSError:  # a folder went away: list again, and say so there
            pass
    started = time.time_ns()
    watched: list[str] = []
    listing = walk(root, table, watched)
    listing.labels.setflags(write=False)  # shared by every source opened from it
    _LISTINGS.pop(key, None)
    _LISTINGS[key] = (watched, _stamps(watched), started - int(fp.SETTLE_SECONDS * 1e9)), listing
    while len(_LISTINGS) > _KEPT:
        del _LISTINGS[next(iter(_LISTINGS))]
    return listing


def list_folder(root: str | os.PathLike) -> Listing:
    """The images of a class-per-subfolder ``root`` (see the module docstring), walked once per
    process while the folder is unchanged."""
    return _listing("folder", root, None, _walk_folder)


def _walk_folder(root, _, watched: list[str]) -> Listing:
    root = Path(root).expanduser()
    watched.append(str(root))
    with os.scandir(root) as entries:
        entries = sorted(entries, key=lambda e: e.name)
    classes = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
    loose = [e.name for e in entries if e.is_file() and is_image_file(e.name)]
    if not classes:
        if loose:
            raise ValueError(f"{root} holds {len(loose)} images but no class subfolders; pass a CSV of "
                             "file,label rows with --labels FILE.csv (data.image_csv), or move each class's "
                             "images into a subfolder named after the class")
        raise ValueError(f"{root} holds no images: expected one subfolder per class with image files "
                         f"({', '.join(EXTENSIONS)}) in them, as ImageNet's train/ and val/ folders")
    files, labels, empty = [], [], []
    for index, name in enumerate(classes):
        found = _images_under(os.path.join(root, name), watched)
        if not found:
            empty.append(name)
        files.extend(found)
        labels.extend([index] * len(found))
    if not files:
        raise ValueError(f"{root} holds {len(classes)} class folders but no images in them: expected image "
                         f"files ({', '.join(EXTENSIONS)}) inside each class folder")
    if empty:
        shown = ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else "")
        warnings.warn(f"{len(empty)} class folder(s) of {root} hold no images ({shown}); each keeps its "
                      "label index (class folders sorted by name), so the labels of the others are unchanged",
                      stacklevel=2)
    if loose:
        warnings.warn(f"{len(loose)} image file(s) lie directly in {root}, outside every class folder, and "
                      "are not read; move them into their class folder", stacklevel=2)
    return Listing(tuple(files), np.asarray(labels, np.int64), tuple(classes))


def list_csv(root: str | os.PathLike, table: str | os.PathLike) -> Listing:
    """The files and labels of a CSV of ``file,label`` rows (files relative to ``root``), read
    once per process while the CSV and ``root`` are unchanged."""
    return _listing("csv", root, table, _read_csv)


def _read_csv(root, table, watched: list[str]) -> Listing:
    root, table = Path(root).expanduser(), Path(table).expanduser()
    watched += [str(root), str(table)]
    files, labels = [], []
    with open(table, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            row = [c.strip() for c in row]
            if not any(row):
                continue
            if len(row) < 2:
                raise ValueError(f"{table} line {line}: expected file,label, got {','.join(row)!r}")
            try:
                label = int(row[1])
            except ValueError:
                if not files and line == 1:
                    continue  # a header
                raise ValueError(f"{table} line {line}: the label must be an integer class index, got "
                                 f"{row[1]!r}") from None
            files.append(os.path.join(root, row[0]))
            labels.append(label)
    if not files:
        raise ValueError(f"{table} lists no images; expected rows of file,label (file relative to {root})")
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} file(s) listed in {table} are not under {root}: "
                                f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}; fix the "
                                "CSV's paths (relative to the image folder) or the folder")
    return Listing(tuple(files), np.asarray(labels, np.int64), None)


def _open_files(listing: Listing, what: str, preprocess: Preprocess | None, **kw) -> EncodedImages:
    files = listing.files
    return EncodedImages(files, files.__getitem__, listing.labels, listing.class_names, preprocess,
                         what=what, **kw)


def image_folder(root: str | os.PathLike, preprocess: Preprocess | None = None, **kw) -> EncodedImages:
    """A class-per-subfolder folder of images as a source (``kw``: threads, prefetch)."""
    return _open_files(list_folder(root), str(root), preprocess, **kw)


def image_csv(root: str | os.PathLike, table: str | os.PathLike, preprocess: Preprocess | None = None,
              **kw) -> EncodedImages:
    """The images a CSV of ``file,label`` rows names, in its order, as a source."""
    return _open_files(list_csv(root, table), f"{root} ({Path(table).name})", preprocess, **kw)


def array_record(path: str | os.PathLike, labels=None, preprocess: Preprocess | None = None,
                 **kw) -> EncodedImages:
    """An ArrayRecord file whose records are encoded images; ``labels``: [n] or None."""
    import grain

    path = Path(path)
    records = grain.sources.ArrayRecordDataSource([str(path)])
    return EncodedImages(functools.partial(_record_name, path.name), records.__getitem__, labels, None,
                         preprocess, what=str(path), count=len(records), **kw)


def _record_name(shard: str, i: int) -> str:
    return f"{shard} record {i}"


def fingerprint(root: str | os.PathLike, table: str | os.PathLike | None = None) -> str:
    """The folder's fingerprint: its images' relative paths, sizes and times (and the CSV's bytes)."""
    table = None if table is None else Path(table).expanduser()
    listing = list_folder(root) if table is None else list_csv(root, table)
    digest = fp.files_fingerprint(root, listing.files)
    return digest if table is None else f"{digest}:{fp.file_fingerprint(table)}"
