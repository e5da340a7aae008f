"""The few file operations the results store uses, on a local disk or on object storage.

Paths are ``/``-separated and relative to the store's root. The store writes every file
with :meth:`put`, which on object storage is one object upload (atomic: a reader sees the
old object, the new one, or none) and on a POSIX filesystem a temporary file in ``tmp/``
and ``os.replace``, with ``fsync`` of the file and of its directory when ``durable`` (the
store asks it for commit records, not for each object: a power cut may then lose an object
whose commit survived, which its checksum reports and a rerun recomputes, at two fsyncs per
task instead of two per array). Nothing here renames a directory, so nothing rests on an
atomicity that gcsfuse or GCS lack.

* :class:`PosixFS`: a local (or NFS / gcsfuse-mounted) directory;
* :class:`EpathFS`: any ``etils.epath`` path (``gs://bucket/results`` where epath's GCS
  backend is installed);
* :func:`filesystem`: the one a root names (``scheme://...`` -> epath, else POSIX).

A test may pass its own object with the same methods (``tests/tasks/fake_fs.py``).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

Buffers = bytes | bytearray | memoryview | Sequence  # one buffer, or several written in order

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _parts(data: Buffers) -> list:
    return [data] if isinstance(data, (bytes, bytearray, memoryview)) else list(data)


class PosixFS:
    """A directory on a POSIX filesystem; ``put`` is durable and atomic (file renames only)."""

    local = True

    def __init__(self, root: str | os.PathLike):
        self.path = Path(root).expanduser().absolute()
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"the results store {self.path} is a file; pass a directory (new or earlier store)")
        (self.path / "tmp").mkdir(parents=True, exist_ok=True)

    def __str__(self):
        return str(self.path)

    def _dir_sync(self, directory: Path) -> None:
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:  # (a platform without directory handles)
            return
        try:
            os.fsync(fd)
        except OSError as err:  # some filesystems (and Windows) cannot sync a directory: nothing to do
            if err.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EACCES):
                raise
        finally:
            os.close(fd)

    def put(self, rel: str, data: Buffers, durable: bool = True) -> None:
        target = self.path / rel
        tmp = self.path / "tmp" / f"{target.name}.{uuid.uuid4().hex[:12]}"
        try:
            with open(tmp, "wb") as fh:
                fh.writelines(_parts(data))
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            try:
                os.replace(tmp, target)
            except FileNotFoundError:  # a new folder (objects/ab/, commits/<name>/): durable too
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
                if durable:
                    self._dir_sync(target.parent.parent)
        finally:
            tmp.unlink(missing_ok=True)
        if durable:
            self._dir_sync(target.parent)

    def read(self, rel: str) -> bytearray:
        path = self.path / rel
        with open(path, "rb") as fh:
            buf = bytearray(os.fstat(fh.fileno()).st_size)
            if fh.readinto(buf) != len(buf):
                raise OSError(f"{path} changed size while it was read")
        return buf

    def size(self, rel: str) -> int | None:
        try:
            return (self.path / rel).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def list(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path / rel))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, rel: str) -> None:
        path = self.path / rel
        if path.is_dir() and not path.is_symlink():  # (debris of format-1 stores: directories)
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def age(self, rel: str) -> float:
        """Seconds since ``rel`` (or, for a directory, anything in it) was last modified."""
        path = self.path / rel
        times = [path.stat().st_mtime]
        if path.is_dir():
            times += [c.stat().st_mtime for c in path.iterdir()]
        return time.time() - max(times)


class EpathFS:
    """Any ``etils.epath`` path; ``put`` writes one object whole (atomic on GCS and S3).

    It never takes a lock: two writers of one key write the same content-addressed objects and
    equal commits, so the later write changes nothing a reader could tell apart.
    """

    local = False

    def __init__(self, root: str | os.PathLike):
        from etils import epath

        self.path = epath.Path(root)

    def __str__(self):
        return str(self.path)

    def put(self, rel: str, data: Buffers, durable: bool = True) -> None:
        del durable  # (an upload is durable when it returns)
        target = self.path / rel
        parts = _parts(data)
        blob = parts[0] if len(parts) == 1 else b"".join(bytes(p) for p in parts)
        try:
            target.write_bytes(bytes(blob))
        except FileNotFoundError:  # a local path: its folder first (object stores have none)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bytes(blob))

    def read(self, rel: str) -> bytearray:
        return bytearray((self.path / rel).read_bytes())

    def size(self, rel: str) -> int | None:
        try:
            return int((self.path / rel).stat().length)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def list(self, rel: str) -> list[str]:
        try:
            return sorted(p.name for p in (self.path / rel).iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, rel: str) -> None:
        path = self.path / rel
        try:
            path.rmtree() if path.is_dir() else path.unlink()
        except FileNotFoundError:
            pass

    def age(self, rel: str) -> float:
        return time.time() - float((self.path / rel).stat().mtime)


def filesystem(root: str | os.PathLike) -> PosixFS | EpathFS:
    """:class:`EpathFS` for ``scheme://...`` roots (``gs://``, ``s3://``), else :class:`PosixFS`."""
    return EpathFS(root) if _SCHEME.match(str(root)) else PosixFS(root)
