"""The results store: one directory per finished task, written atomically, never recomputed.

Layout under ``root``::

    lock                             held (flock) by the run writing the store: pid, host, since when
    manifest.json                    every entry: task, config, inputs, summary (process 0 writes it)
    entries/<task name>/<key>/       a0000.npy ... (one per array), summary.json, task.json (written last)
    failures/<key>.json              the error of a task that raised, for `sweep --status`
    scratch/<key>/                   checkpoints a long task keeps while it runs (SAE, K-means, training)
    tmp/                             entries being written, or moved aside; never read; swept

An entry is assembled in ``tmp/`` and moved into ``entries/`` with one ``rename``,
so a reader sees either nothing or the whole entry: a process killed half-way
leaves only ``tmp/`` debris, which is ignored and swept. ``task.json`` records the
name, file, shape, dtype and the CRC-32 of the bytes of every array (each a plain
``.npy`` that ``np.load`` opens) and the CRC-32 of ``summary.json``; :meth:`Store.load`
checks them, so a file damaged or edited later is reported and recomputed, never silently
read. A ``task.json`` or ``summary.json`` that does not parse, a file name in ``task.json``
that is not a plain name inside the entry (``../x.npy``), or a summary that does not match
its checksum makes the entry damaged too (:class:`CorruptEntry`, naming the file).

An array a task passes through unchanged from one of its inputs (the very object,
e.g. the neurons' activations, which are the captured activations themselves) is not
written twice: ``task.json`` records ``[shape, dtype, "@<input name>", crc]`` and
:meth:`Store.load` reads it from that input's entry (checked against the same CRC-32).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from jaxinterp import atomic
from jaxinterp.tasks.task import Result, Task, describe

SUMMARY, TASK, MANIFEST, LOCK = "summary.json", "task.json", "manifest.json", "lock"
DEBRIS_AGE = 3600.0  # seconds: tmp/ debris this old is no write in flight; a run sweeps it at its start
SEP = "/"
ALIAS = "@"  # task.json file field of an array stored in an input's entry


def flatten_arrays(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """``{"a": {"b": x}}`` -> ``{"a/b": x}`` (host numpy arrays)."""
    if not isinstance(tree, dict):
        raise ValueError(f"task arrays must be a (nested) dict of arrays, got {type(tree).__name__}")
    flat = {}
    for name, value in tree.items():
        if not isinstance(name, str) or not name or SEP in name:
            raise ValueError(f"array names are non-empty strings without '{SEP}', got {name!r}")
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(flatten_arrays(value, path + SEP))
        else:
            flat[path] = np.asarray(value)
    return flat


def unflatten_arrays(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        *parents, leaf = path.split(SEP)
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _crc32(a: np.ndarray | bytes) -> str:
    """CRC-32 of an array's bytes (C order), or of ``bytes``."""
    if not isinstance(a, bytes):
        a = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return f"{zlib.crc32(a):08x}"


def _read_json(path: Path, data: bytes | None = None):
    """The JSON in ``path`` (or in ``data``, its bytes); CorruptEntry naming the file if it is not."""
    try:
        return json.loads(path.read_bytes() if data is None else data)
    except (OSError, ValueError) as err:  # (JSONDecodeError and UnicodeDecodeError are ValueErrors)
        raise CorruptEntry(f"{path} cannot be read as JSON ({type(err).__name__}: {err})") from None


def _plain_name(name: object) -> bool:
    """True for a file name inside an entry: no separator, not ``.``/``..``, not absolute."""
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and "\0" not in name and not os.path.isabs(name))


def _valid_record(rec: object) -> bool:
    """``[shape, dtype, file, crc]`` as task.json records each array."""
    return (isinstance(rec, list) and len(rec) == 4 and isinstance(rec[0], list)
            and all(isinstance(d, int) for d in rec[0]) and all(isinstance(x, str) for x in rec[1:]))


def _json_default(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray) and value.size <= 64:
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"summary values must be JSON (numbers, strings, short lists), got {type(value).__name__}")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace``."""
    atomic.write_json(path, data, default=_json_default)


class CorruptEntry(RuntimeError):
    """An entry whose files do not match what was written; it is moved aside and recomputed."""


def _read_entry(entry: Path, key: str) -> tuple[dict, dict]:
    """``(task.json, summary)`` of the entry directory ``entry`` of task ``key``, each checked:
    JSON that parses, the key, the array records and their file names, the summary's checksum."""
    meta_path, summary_path = entry / TASK, entry / SUMMARY
    meta = _read_json(meta_path)
    if not isinstance(meta, dict) or meta.get("key") != key:
        found = meta.get("key") if isinstance(meta, dict) else type(meta).__name__
        raise CorruptEntry(f"{meta_path} holds key {found}, expected {key}")
    arrays = meta.get("arrays")
    if not isinstance(arrays, dict) or not all(_valid_record(r) for r in arrays.values()):
        raise CorruptEntry(f"{meta_path}: 'arrays' is not {{name: [shape, dtype, file, crc32]}}")
    for name, (_, _, file, _) in arrays.items():
        if not file.startswith(ALIAS) and not _plain_name(file):
            raise CorruptEntry(f"{meta_path} points array {name!r} at {file!r}; an entry's files are plain "
                               "names inside its directory")
    try:
        data = summary_path.read_bytes()
    except OSError as err:
        raise CorruptEntry(f"{summary_path} cannot be read: {err}") from None
    if meta.get("summary_crc") != _crc32(data):  # (an entry from before summary checksums: recomputed once)
        raise CorruptEntry(f"{summary_path} does not match the checksum recorded in {meta_path}: it was "
                           "edited or damaged after it was written")
    return meta, _read_json(summary_path, data)


_HELD: dict[tuple[str, int], int] = {}  # (store root, thread) -> depth of the lock it holds
_HELD_GUARD = threading.Lock()


def _to_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Store:
    """Results of tasks on disk under ``root`` (created if absent)."""

    def __init__(self, root: str | os.PathLike):
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise ValueError(f"the results store {root} is a file; pass a directory (new or earlier store)")
        self.root = root
        for sub in ("entries", "tmp", "scratch", "failures"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    # -- paths
    def entry_dir(self, task: Task) -> Path:
        return self.root / "entries" / task.name / task.key

    def scratch_dir(self, task: Task) -> Path:
        """A directory a long task may checkpoint into; it survives a crash and goes once the entry is saved."""
        path = self.root / "scratch" / task.key
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- queries
    def has(self, task: Task) -> bool:
        """Whether ``task`` has a whole entry: ``task.json`` and ``summary.json`` readable and
        matching (the arrays are checked by :meth:`load`). A damaged entry is not one: it is recomputed."""
        try:
            self.verify(task)
        except (KeyError, CorruptEntry):
            return False
        return True

    def verify(self, task: Task) -> tuple[dict, dict]:
        """``(task.json, summary)`` of ``task``'s entry; KeyError if there is none, CorruptEntry naming
        the file if ``task.json`` or ``summary.json`` is damaged or edited."""
        entry = self.entry_dir(task)
        if not (entry / TASK).is_file():
            raise KeyError(f"no result for {task!r} in {self.root}")
        return _read_entry(entry, task.key)

    def load(self, task: Task, verify: bool = True) -> Result:
        """The saved :class:`Result` of ``task`` (checksum verified); KeyError if absent."""
        entry = self.entry_dir(task)
        meta, summary = self.verify(task)
        flat = {}
        for name, (shape, dtype, file, crc) in meta["arrays"].items():
            if file.startswith(ALIAS):
                a = self._aliased(task, entry, name, file[len(ALIAS):])
            else:
                try:
                    a = np.load(entry / file, allow_pickle=False)
                except (OSError, ValueError, EOFError) as err:
                    raise CorruptEntry(f"{entry / file} ({name!r}) cannot be read: {err}") from None
            if list(a.shape) != shape or str(a.dtype) != dtype or (verify and _crc32(a) != crc):
                raise CorruptEntry(f"{entry / file} ({name!r}) does not match its recorded shape, dtype "
                                   "and checksum")
            flat[name] = a
        return Result(unflatten_arrays(flat), summary)

    def _aliased(self, task: Task, entry: Path, name: str, source: str) -> np.ndarray:
        """Array ``name`` of ``entry``, stored once in the entry of input ``source`` (same path)."""
        dep, _, path = source.partition(SEP)
        if dep not in task.deps:
            raise CorruptEntry(f"{entry} refers {name!r} to an input {dep!r} that {task!r} lacks")
        try:
            flat = flatten_arrays(self.load(task.deps[dep], verify=False).arrays)
        except (KeyError, CorruptEntry) as err:
            raise CorruptEntry(f"{entry} ({name!r}) is stored in input {dep!r}, which cannot be read: "
                               f"{err}") from None
        if path not in flat:
            raise CorruptEntry(f"{entry} ({name!r}): input {dep!r} has no array {path!r}")
        return flat[path]

    def discard(self, task: Task, reason: str) -> None:
        """Move a damaged entry aside (to ``tmp/``) so that it is recomputed."""
        entry = self.entry_dir(task)
        try:
            os.replace(entry, self.root / "tmp" / f"corrupt-{task.key}-{uuid.uuid4().hex[:8]}")
        except FileNotFoundError:  # (another process moved it first)
            pass
        write_json_atomic(self.root / "failures" / f"{task.key}.json",
                          {**describe(task), "error": f"discarded damaged entry: {reason}", "time": time.time()})

    # -- writing
    @staticmethod
    def check(task: Task, result: Result) -> dict[str, np.ndarray]:
        """What :meth:`save` would write, as flat host arrays; ValueError for what it cannot."""
        if not isinstance(result, Result):
            raise ValueError(f"task {task.name!r} must return jaxinterp.tasks.Result(arrays, summary), "
                             f"got {type(result).__name__}")
        flat = flatten_arrays(result.arrays)
        for name, a in flat.items():
            if a.dtype == object:
                raise ValueError(f"task {task.name!r}: array {name!r} has dtype object; return numeric arrays")
        json.dumps(result.summary, default=_json_default)
        return flat

    def save(self, task: Task, result: Result, seconds: float | None = None,
             inputs: dict[str, Result] | None = None) -> Path:
        """Write ``result`` as the entry of ``task`` atomically; returns the entry directory.

        ``inputs``: the results ``task`` was computed from; an array that *is* (the same
        object as) one of theirs is recorded as a reference instead of written again.
        If another process saved the same key first, its entry is kept (both computed the same thing).
        """
        flat = self.check(task, result)
        owners = {}
        for dep, res in (inputs or {}).items():
            if dep in task.deps and isinstance(res, Result):
                for path, b in flatten_arrays(res.arrays).items():
                    owners.setdefault(id(b), (b, f"{ALIAS}{dep}{SEP}{path}"))
        tmp = self.root / "tmp" / f"{task.key}-{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        index = {}
        for i, (name, a) in enumerate(flat.items()):  # plain .npy files, written from the buffer
            owner = owners.get(id(a))
            if owner is not None and owner[0] is a:  # passed through unchanged: stored once, upstream
                index[name] = [list(a.shape), str(a.dtype), owner[1], _crc32(a)]
                continue
            a = a if a.flags.c_contiguous else np.ascontiguousarray(a)  # (this would make 0-d arrays 1-d)
            file = f"a{i:04d}.npy"
            with open(tmp / file, "wb") as fh:
                np.lib.format.write_array(fh, a, allow_pickle=False)
            index[name] = [list(a.shape), str(a.dtype), file, _crc32(a)]
        summary = json.dumps(result.summary, indent=1, default=_json_default).encode()
        (tmp / SUMMARY).write_bytes(summary)
        meta = {**describe(task), "arrays": index, "summary_crc": _crc32(summary), "seconds": seconds,
                "written": time.time()}
        (tmp / TASK).write_text(json.dumps(meta, indent=1, default=_json_default))  # last: marks it whole
        final = self.entry_dir(task)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists() and not self.has(task):  # not ours: an entry damaged from outside
            os.replace(final, self.root / "tmp" / f"stale-{task.key}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(tmp, final)
        except OSError:
            if not self.has(task):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # an equal entry won the race
        shutil.rmtree(self.root / "scratch" / task.key, ignore_errors=True)
        failure = self.root / "failures" / f"{task.key}.json"
        failure.unlink(missing_ok=True)
        return final

    def record_failure(self, task: Task, error: BaseException, trace: str = "") -> None:
        write_json_atomic(self.root / "failures" / f"{task.key}.json",
                          {**describe(task), "error": f"{type(error).__name__}: {error}",
                           "traceback": trace[-4000:], "time": time.time()})

    def failure(self, task: Task) -> dict | None:
        path = self.root / "failures" / f"{task.key}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    # -- listing
    def entries(self) -> Iterator[dict]:
        """``task.json`` of every complete entry (with its ``summary``)."""
        for meta_path in sorted((self.root / "entries").glob(f"*/*/{TASK}")):
            try:
                meta, summary = _read_entry(meta_path.parent, meta_path.parent.name)
            except CorruptEntry:  # recomputed by the next run that needs it
                continue
            meta["summary"] = summary
            meta["path"] = str(meta_path.parent.relative_to(self.root))
            yield meta

    def write_manifest(self, extra: dict | None = None) -> Path:
        """``manifest.json``: every entry a user can look up (call from process 0 only)."""
        entries = list(self.entries())
        failures = []
        for p in sorted((self.root / "failures").glob("*.json")):
            try:
                failures.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                continue
        data = {"store": str(self.root), "entries": len(entries), "failed": len(failures),
                **(extra or {}), "tasks": entries, "failures": failures}
        write_json_atomic(self.root / MANIFEST, data)
        return self.root / MANIFEST

    def sweep_tmp(self, older_than: float = 0.0) -> int:
        """Remove debris in ``tmp/`` (interrupted writes, entries moved aside) untouched for
        ``older_than`` seconds (the newest time of a directory and its files counts)."""
        removed = 0
        now = time.time()
        for p in (self.root / "tmp").iterdir():
            try:
                touched = max([p.stat().st_mtime, *(c.stat().st_mtime for c in p.iterdir())] if p.is_dir()
                              else [p.stat().st_mtime])
                if now - touched >= older_than:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
                    removed += 1
            except OSError:  # (another run removed or is writing it)
                continue
        return removed

    @contextlib.contextmanager
    def lock(self, notify: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the store's advisory lock (``fcntl.flock`` on ``<root>/lock``) for the block.

        While another run holds it, ``notify`` (default: a line on stderr) is told once who holds
        it (pid, host, since when), and this call waits until it is released; the lock goes with
        its holder's process, so a killed run never leaves it held. Re-entrant within a thread.
        Where ``fcntl`` is missing (Windows) nothing is locked.
        """
        try:
            import fcntl
        except ImportError:
            yield
            return
        key = (str(self.root.resolve()), threading.get_ident())
        with _HELD_GUARD:
            depth = _HELD.get(key, 0)
            _HELD[key] = depth + 1
        if depth:  # this thread holds it already (a run inside a run)
            try:
                yield
            finally:
                with _HELD_GUARD:
                    _HELD[key] -= 1
            return
        path, notify = self.root / LOCK, notify or _to_stderr
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            unlockable = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = path.read_text().strip() or "holder unknown"
                notify(f"another run holds the store {self.root} ({holder}); waiting…")
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as err:  # a filesystem without locks: go on, and say what that risks
                unlockable = err.strerror or str(err)
            if unlockable:
                notify(f"cannot lock the store {self.root} ({unlockable}); a second run on it at the same "
                       "time would compute the same steps again")
                yield
                return
            os.ftruncate(fd, 0)
            os.pwrite(fd, (f"pid {os.getpid()} on host {socket.gethostname()} since "
                           f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
            with _HELD_GUARD:
                del _HELD[key]
