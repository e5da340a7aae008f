"""A filesystem in memory for the results store, as weak as object storage behind a POSIX shim.

Every ``put`` is what a POSIX write-then-rename becomes on gcsfuse: the temporary file is
written, the "rename" is a copy that fills the target in two writes (so a reader between
them finds it torn: its first half), and the temporary file is deleted. Each of those steps,
and each ``remove``, is one write; ``crash_at=n`` makes write ``n`` (0-based) raise
:class:`Crash`, and every write after it, as a killed process writes nothing more.
``restart()`` is the next process on the same files.
"""

from __future__ import annotations

import itertools
import time
from pathlib import PurePosixPath


class Crash(BaseException):
    """The process died here (a BaseException: no ``except Exception`` survives it)."""


class FakeFS:
    local = False

    def __init__(self, crash_at: int | None = None):
        self.files: dict[str, bytes] = {}
        self.times: dict[str, float] = {}
        self.writes = 0
        self.crash_at = crash_at
        self.dead = False
        self.path = PurePosixPath("/fake-store")
        self._names = itertools.count()

    def __str__(self):
        return str(self.path)

    def restart(self) -> None:
        self.dead, self.crash_at = False, None

    def _write(self, rel: str, data: bytes | None) -> None:
        if self.dead or self.writes == self.crash_at:
            self.dead = True
            raise Crash(f"crashed before write {self.writes}")
        self.writes += 1
        if data is None:
            self.files.pop(rel, None)
            self.times.pop(rel, None)
        else:
            self.files[rel], self.times[rel] = bytes(data), time.time()

    def put(self, rel: str, data, durable: bool = True) -> None:
        parts = [data] if isinstance(data, (bytes, bytearray, memoryview)) else list(data)
        blob = b"".join(bytes(p) for p in parts)
        tmp = f"tmp/{rel.rsplit('/', 1)[-1]}.{next(self._names)}"
        self._write(tmp, blob)
        self._write(rel, blob[: len(blob) // 2])  # the rename is a copy, and a copy takes time
        self._write(rel, blob)
        self._write(tmp, None)

    def read(self, rel: str) -> bytearray:
        if rel not in self.files:
            raise FileNotFoundError(rel)
        return bytearray(self.files[rel])

    def size(self, rel: str) -> int | None:
        return len(self.files[rel]) if rel in self.files else None

    def list(self, rel: str) -> list[str]:
        prefix = rel.rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/", 1)[0] for p in self.files if p.startswith(prefix)})

    def remove(self, rel: str) -> None:
        for p in [p for p in self.files if p == rel or p.startswith(rel + "/")]:
            self._write(p, None)

    def age(self, rel: str) -> float:
        stamps = [t for p, t in self.times.items() if p == rel or p.startswith(rel + "/")]
        if not stamps:
            raise FileNotFoundError(rel)
        return time.time() - max(stamps)
