"""A dataset's fingerprint: cheap at every start, and the same wherever the data is mounted.

* **One file** (``.npz``, ``.npy``, a CIFAR-10 tarball or batch, an ArrayRecord shard, a labels
  CSV): the sha256 of its bytes, read once per host and cached in ``cache_dir()/fingerprints``
  under the file's identity on this host (real path, size, modification time, inode); later
  starts only ``stat`` it.
* **A folder of weights** (from ``jaxinterp convert``): the sha256 of each file's path relative
  to the folder and its bytes' fingerprint (as one file: read once per host, then cached).
* **A folder of image files**: the sha256 of each file's path relative to the folder, its size
  and its modification time. No image is read, so a folder of a million images costs a million
  ``stat`` calls, not 150 GB of reading. A copy that keeps modification times (``cp -a``,
  ``rsync -a``, ``shutil.copytree``) has the same fingerprint; one that does not gets a new one
  (its results are computed again, never reused stale).

No path above the data enters a fingerprint, so the same data mounted elsewhere has the same one.
Modification times tick coarsely (milliseconds on ext4): a file rewritten within one tick at the
same size looks unchanged by ``stat``. A single file changed less than :data:`SETTLE_SECONDS` ago
is therefore hashed again at every start (not cached), as git treats "racily clean" index
entries; a folder's image files are taken by ``stat`` alone (rewriting an image in place, at the
same size, within milliseconds of fingerprinting it is the one change this can miss).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Iterable

from jaxinterp import atomic
from jaxinterp.cache import cache_dir

SETTLE_SECONDS = 2.0

__all__ = ["file_fingerprint", "files_fingerprint", "tree_fingerprint"]


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _settled(st: os.stat_result) -> bool:
    return time.time() - max(st.st_mtime, st.st_ctime) > SETTLE_SECONDS


def file_fingerprint(path: str | os.PathLike) -> str:
    """sha256 (hex) of the bytes of ``path``, read once per host and then cached."""
    path = Path(path)
    st = path.stat()
    if not _settled(st):
        return _sha256_of(path)
    identity = f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_dev}"
    entry = cache_dir() / "fingerprints" / hashlib.sha256(identity.encode()).hexdigest()[:32]
    try:
        cached = entry.read_text().strip()
        if len(cached) == 64:
            return cached
    except OSError:
        pass
    digest = _sha256_of(path)
    try:
        atomic.write_text(entry, digest)
    except OSError:  # a read-only cache only costs a re-read next time
        pass
    return digest


def files_fingerprint(root: str | os.PathLike, files: Iterable[str | os.PathLike]) -> str:
    """sha256 (hex) of (path relative to ``root``, size, modification time) of each file under
    ``root``, in the given order. Reads no file."""
    h = hashlib.sha256()
    for f in files:
        st = os.stat(f)
        rel = Path(os.path.relpath(f, root)).as_posix()
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def tree_fingerprint(root: str | os.PathLike) -> str:
    """sha256 (hex) of (path relative to ``root``, :func:`file_fingerprint`) of every file under
    ``root``, sorted by path: any file's content, name or presence changes it; each file is read
    once per host, then only ``stat``-ed."""
    root = Path(root)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(root).as_posix()}\0{file_fingerprint(f)}\n".encode())
    return h.hexdigest()
