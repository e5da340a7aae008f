"""The results store (format 2): files written once under content names, then a commit record.

Layout under ``root`` (a local directory, or ``gs://bucket/path`` through ``etils.epath``)::

    objects/<h[:2]>/<h>.npy          each array, a plain .npy (``np.load`` opens it); h = sha256 of its bytes
    objects/<h[:2]>/<h>.json         each summary (JSON), named the same way
    commits/<task name>/<key>.json   one per finished task, written last: name, key, config, inputs,
                                     version, layout, {array: [shape, dtype, object, crc32]},
                                     [summary object, crc32], seconds, when, and which host/process wrote it
    failures/<key>.json              the error of a task that raised (and who ran it), for ``sweep --status``
    notes/<folder>/<name>.json       small JSON notes that are not results (:meth:`Store.put_note`):
                                     a sweep's ``running/`` cells (who, since when, last heartbeat;
                                     removed when the cell ends) and ``hosts/`` (what each process ran)
    manifest.json                    every entry: task, config, inputs, summary (process 0 writes it)
    lock                             local roots only: held (flock) by the run writing the store
    scratch/<key>/                   local roots only: checkpoints a long task keeps while it runs
                                     (on object storage: a folder under the local temp directory)
    tmp/                             local roots only: files being written; never read; swept at start

**Writing.** :meth:`Store.save` writes each object, then the commit, each with one
:meth:`~jaxinterp.tasks.fs.PosixFS.put`: on object storage one object upload (atomic where
a directory rename is not), on a POSIX disk a temporary file and ``os.replace`` (for the
commit with ``fsync`` of the file and of its folder; objects are not synced one by one: a
power cut that loses one behind a surviving commit is caught by its checksum). An object already there with the right length is not written
again, so an array a task passes through from its input (the neurons' activations, which
are the captured activations) is stored once, and a task computed twice is stored once: a
second save of a key whose commit is whole changes nothing.

**Reading.** Only a commit counts. :meth:`Store.verify` and :meth:`Store.load` check the
commit (JSON, key, object names) and each object against the CRC-32 the commit records;
anything else (a commit cut short, an object missing, torn or edited) is
:class:`CorruptEntry` naming the file, and the runner recomputes it (:meth:`Store.discard`
first deletes the commit and the damaged objects, so the recomputed ones are written anew).
A process killed between any two writes leaves at most objects no commit names (harmless)
and ``tmp/`` debris, which runs sweep.

**Concurrency.** On a local root a run holds ``lock`` (:meth:`Store.lock`). Object storage
has no lock: two writers of one key write the same objects (same content, same names) and
equal commits, so whichever lands last, a reader finds a whole entry.

Stores of format 1 (``entries/<name>/<key>/`` folders, jaxinterp ≤ 0.2) are not read: a run
on one recomputes what it needs into ``objects/`` and ``commits/`` beside them.

Which tasks' numbers depend on the device layout, and how each is kept honest (made
layout-invariant, or the layout recorded in its key): the table in the README, "Analyses as tasks".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from jaxinterp import atomic
from jaxinterp.tasks.fs import EpathFS, PosixFS, filesystem
from jaxinterp.tasks.task import FORMAT, Result, Task, describe

MANIFEST, LOCK = "manifest.json", "lock"
OBJECTS, COMMITS, FAILURES, SCRATCH, TMP, NOTES = "objects", "commits", "failures", "scratch", "tmp", "notes"
DEBRIS_AGE = 3600.0  # seconds: tmp/ debris this old is no write in flight; a run sweeps it at its start
SEP = "/"
_OBJECT = re.compile(r"^[0-9a-f]{64}\.(npy|json)$")
_CRC = re.compile(r"^[0-9a-f]{8}$")
_NOTE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


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


def _crc32(data) -> str:
    """CRC-32 of a bytes-like object, as 8 hex digits."""
    return f"{zlib.crc32(data):08x}"


def _json_default(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray) and value.size <= 64:
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"summary values must be JSON (numbers, strings, short lists), got {type(value).__name__}")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to the local file ``path`` through a temporary file and ``os.replace``."""
    atomic.write_json(path, data, default=_json_default)


class CorruptEntry(RuntimeError):
    """An entry whose files do not match what was written; it is discarded and recomputed."""


def _npy(a: np.ndarray) -> list:
    """The bytes of ``a`` as an .npy file: [header, data] (the data is a view, not a copy)."""
    a = a if a.flags.c_contiguous else np.ascontiguousarray(a)  # (this would make 0-d arrays 1-d)
    fp = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(a)
    try:
        np.lib.format.write_array_header_1_0(fp, header)
    except ValueError:  # a header over 64 KiB (a huge structured dtype)
        np.lib.format.write_array_header_2_0(fp, header)
    return [fp.getvalue(), memoryview(a.reshape(-1).view(np.uint8))]


def _from_npy(buf: bytearray, where: str) -> np.ndarray:
    """The array in the .npy bytes ``buf``, sharing its memory; CorruptEntry if they are not one."""
    view = memoryview(buf)
    try:
        # the header only: magic (6), version (2), its length (2 bytes in version 1, else 4), itself
        wide = len(buf) > 7 and buf[6] != 1
        head = 12 if wide else 10
        if len(buf) < head:
            raise ValueError(f"{len(buf)} bytes")
        head += int.from_bytes(view[8:head], "little")
        fp = io.BytesIO(view[:head].tobytes())
        major, _ = np.lib.format.read_magic(fp)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(fp)
        if dtype.hasobject:
            raise ValueError("object arrays are not read")
        count = int(np.prod(shape, dtype=np.int64))
        if fp.tell() + count * dtype.itemsize != len(buf):
            raise ValueError(f"{len(buf) - fp.tell()} data bytes for {count} x {dtype}")
        flat = np.frombuffer(buf, dtype=dtype, count=count, offset=fp.tell())
    except (ValueError, EOFError, OSError) as err:
        raise CorruptEntry(f"{where} is not an .npy array ({err})") from None
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def _valid_record(rec: object) -> bool:
    """``[shape, dtype, object, crc32]`` as a commit records each array."""
    return (isinstance(rec, list) and len(rec) == 4 and isinstance(rec[0], list)
            and all(isinstance(d, int) and d >= 0 for d in rec[0]) and all(isinstance(x, str) for x in rec[1:])
            and bool(_OBJECT.match(rec[2])) and rec[2].endswith(".npy") and bool(_CRC.match(rec[3])))


def _valid_summary(rec: object) -> bool:
    return (isinstance(rec, list) and len(rec) == 2 and all(isinstance(x, str) for x in rec)
            and bool(_OBJECT.match(rec[0])) and rec[0].endswith(".json") and bool(_CRC.match(rec[1])))


def object_path(name: str) -> str:
    """Where object ``<h>.npy`` lives, relative to the root: ``objects/<h[:2]>/<h>.npy``."""
    return f"{OBJECTS}/{name[:2]}/{name}"


def _writer(worker: dict | None = None) -> dict:
    """Who writes: host, pid, ``jax.process_index()``, and what ``worker`` adds or overrides (a
    sweep's job-array process index and count, its engine)."""
    jax = sys.modules.get("jax")  # (the store itself needs no jax; a run has imported it)
    process = jax.process_index() if jax is not None else 0
    return {"host": socket.gethostname(), "pid": os.getpid(), "process": process, **(worker or {})}


_HELD: dict[tuple[str, int], int] = {}  # (store root, thread) -> depth of the lock it holds
_HELD_GUARD = threading.Lock()


def _to_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Store:
    """Results of tasks under ``root``: a local directory (created if absent) or an
    ``etils.epath`` URL such as ``gs://bucket/results``.

    ``fs`` (instead of ``root``): the file operations to use (:mod:`jaxinterp.tasks.fs`; tests
    pass a fake that can crash between writes). ``worker``: what commits and failure records
    say about their writer beyond host, pid and ``jax.process_index()`` (a sweep sets its
    job-array ``process`` and ``processes``, and its ``engine``).
    """

    def __init__(self, root: str | os.PathLike | None = None, *, fs: PosixFS | EpathFS | Any | None = None,
                 worker: dict | None = None):
        if (root is None) == (fs is None):
            raise ValueError("pass the store's root (a directory or gs:// URL), or fs=, not both")
        self.fs = filesystem(root) if fs is None else fs
        self.root = self.fs.path  # a pathlib.Path for local roots, an epath.Path otherwise
        self.worker = dict(worker or {})

    # -- paths
    @staticmethod
    def commit_name(task: Task) -> str:
        """``commits/<name>/<key>.json``, relative to the root."""
        return f"{COMMITS}/{task.name}/{task.key}.json"

    @staticmethod
    def _failure_name(task: Task) -> str:
        return f"{FAILURES}/{task.key}.json"

    def scratch_dir(self, task: Task) -> Path:
        """A local directory a long task may checkpoint into; it survives a crash and goes once the
        entry is saved. On object storage it is under the local temp directory (one per root)."""
        if self.fs.local:
            path = self.fs.path / SCRATCH / task.key
        else:
            tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
            path = Path(tempfile.gettempdir()) / "jaxinterp-scratch" / tag / task.key
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- reading
    def _read_json(self, rel: str, data=None):
        """The JSON in ``rel`` (or in ``data``, its bytes); CorruptEntry naming the file if it is not."""
        try:
            return json.loads(self.fs.read(rel) if data is None else data)
        except (OSError, ValueError) as err:  # (JSONDecodeError and UnicodeDecodeError are ValueErrors)
            raise CorruptEntry(f"{self.root}/{rel} cannot be read as JSON ({type(err).__name__}: {err})") from None

    def _read_object(self, name: str, crc: str, commit: str, what: str) -> bytearray:
        rel = object_path(name)
        try:
            data = self.fs.read(rel)
        except OSError as err:
            raise CorruptEntry(f"{self.root}/{rel} ({what} of {commit}) cannot be read: {err}") from None
        if _crc32(data) != crc:
            raise CorruptEntry(f"{self.root}/{rel} ({what}) does not match the checksum recorded in "
                               f"{self.root}/{commit}: it was damaged or edited after it was written")
        return data

    def _read_commit(self, rel: str, key: str) -> tuple[dict, dict]:
        """``(commit, summary)`` of the commit ``rel`` of task ``key``, each checked: JSON that
        parses, the key and format, the array and summary records, the summary's checksum."""
        rec = self._read_json(rel)
        where = f"{self.root}/{rel}"
        if not isinstance(rec, dict) or rec.get("key") != key or rec.get("format") != FORMAT:
            found = (rec.get("key"), rec.get("format")) if isinstance(rec, dict) else type(rec).__name__
            raise CorruptEntry(f"{where} holds (key, format) {found}, expected ({key}, {FORMAT})")
        arrays = rec.get("arrays")
        if not isinstance(arrays, dict) or not all(_valid_record(r) for r in arrays.values()):
            raise CorruptEntry(f"{where}: 'arrays' is not {{name: [shape, dtype, '<sha256>.npy', crc32]}}")
        if not _valid_summary(rec.get("summary")):
            raise CorruptEntry(f"{where}: 'summary' is not ['<sha256>.json', crc32]")
        name, crc = rec["summary"]
        return rec, self._read_json(object_path(name), self._read_object(name, crc, rel, "summary"))

    def has(self, task: Task) -> bool:
        """Whether ``task`` has a whole entry: its commit and summary readable and matching (the
        arrays are checked by :meth:`load`). A damaged entry is not one: it is recomputed."""
        try:
            self.verify(task)
        except (KeyError, CorruptEntry):
            return False
        return True

    def verify(self, task: Task) -> tuple[dict, dict]:
        """``(commit, summary)`` of ``task``; KeyError if it has no commit, CorruptEntry naming the
        file if the commit or the summary is damaged or edited."""
        rel = self.commit_name(task)
        if self.fs.size(rel) is None:
            raise KeyError(f"no result for {task!r} in {self.root}")
        return self._read_commit(rel, task.key)

    def load(self, task: Task, verify: bool = True) -> Result:
        """The saved :class:`Result` of ``task``, every object checked against its CRC-32 (unless
        ``verify=False``); KeyError if absent, CorruptEntry if damaged."""
        rec, summary = self.verify(task)
        rel = self.commit_name(task)
        flat = {}
        for name, (shape, dtype, obj, crc) in rec["arrays"].items():
            if verify:
                data = self._read_object(obj, crc, rel, repr(name))
            else:
                try:
                    data = self.fs.read(object_path(obj))
                except OSError as err:
                    raise CorruptEntry(f"{self.root}/{object_path(obj)} ({name!r}) cannot be read: {err}") from None
            a = _from_npy(data, f"{self.root}/{object_path(obj)} ({name!r})")
            if list(a.shape) != shape or str(a.dtype) != dtype:
                raise CorruptEntry(f"{self.root}/{object_path(obj)} ({name!r}) holds {a.dtype}{list(a.shape)}, "
                                   f"{self.root}/{rel} records {dtype}{shape}")
            flat[name] = a
        return Result(unflatten_arrays(flat), summary)

    def discard(self, task: Task, reason: str) -> None:
        """Delete a damaged entry (its commit, and those of its objects that fail their checksum)
        so that it is recomputed and written anew; an object other commits share is damaged for
        them too, and they are recomputed when next read."""
        rel = self.commit_name(task)
        try:
            rec = self._read_json(rel)
            named = [(r[2], r[3]) for r in rec["arrays"].values() if _valid_record(r)]
            if _valid_summary(rec.get("summary")):
                named.append(tuple(rec["summary"]))
        except (CorruptEntry, KeyError, TypeError, AttributeError):
            named = []
        for name, crc in named:
            try:
                self._read_object(name, crc, rel, "object")
            except CorruptEntry:
                self.fs.remove(object_path(name))
        self.fs.remove(rel)
        self._put_json(self._failure_name(task), {**describe(task), "error": f"discarded damaged entry: {reason}",
                                                  "time": time.time()})

    # -- writing
    def _put_json(self, rel: str, data: Any) -> None:
        self.fs.put(rel, json.dumps(data, indent=1, default=_json_default, allow_nan=True).encode())

    def _put_object(self, parts: list, suffix: str) -> tuple[str, str]:
        """Write ``parts`` (bytes-likes) as one object named by their sha256, unless an object of
        that name and length is there already; returns (name, crc32)."""
        digest, crc, size = hashlib.sha256(), 0, 0
        for part in parts:
            digest.update(part)
            crc = zlib.crc32(part, crc)
            size += memoryview(part).nbytes
        name = digest.hexdigest() + suffix
        if self.fs.size(object_path(name)) != size:  # absent, or cut short by a crash: (re)write it
            self.fs.put(object_path(name), parts, durable=False)  # (the commit is synced; module docstring)
        return name, f"{crc:08x}"

    @staticmethod
    def check(task: Task, result: Result) -> dict[str, np.ndarray]:
        """What :meth:`save` would write, as flat host arrays; ValueError for what it cannot."""
        if not isinstance(result, Result):
            raise ValueError(f"task {task.name!r} must return jaxinterp.tasks.Result(arrays, summary), "
                             f"got {type(result).__name__}")
        flat = flatten_arrays(result.arrays)
        for name, a in flat.items():
            if a.dtype.hasobject:
                raise ValueError(f"task {task.name!r}: array {name!r} has dtype object; return numeric arrays")
        json.dumps(result.summary, default=_json_default)
        return flat

    def save(self, task: Task, result: Result, seconds: float | None = None,
             inputs: dict[str, Result] | None = None) -> str:
        """Write ``result`` as the entry of ``task`` (objects, then the commit); returns the commit's
        path relative to the root. A whole commit of the same key already there is kept (it holds
        the same result). ``inputs`` is accepted for callers of format 1 and not needed: an array
        passed through from an input has the same content, hence the same object, stored once."""
        del inputs
        flat = self.check(task, result)
        index = {}
        for name, a in flat.items():
            parts = _npy(a)
            obj, crc = self._put_object(parts, ".npy")
            index[name] = [list(a.shape), str(a.dtype), obj, crc]
        summary = self._put_object([json.dumps(result.summary, indent=1, default=_json_default).encode()], ".json")
        rel = self.commit_name(task)
        if not self.has(task):  # (a whole commit of this key is an equal result: keep it)
            record = {"format": FORMAT, **describe(task), "arrays": index, "summary": list(summary),
                      "seconds": seconds, "written": time.time(), "writer": _writer(self.worker)}
            self._put_json(rel, record)  # last: from here on the entry exists
        if self.fs.local:
            shutil.rmtree(self.fs.path / SCRATCH / task.key, ignore_errors=True)
        else:
            shutil.rmtree(self.scratch_dir(task), ignore_errors=True)
        if self.fs.size(self._failure_name(task)) is not None:
            self.fs.remove(self._failure_name(task))
        return rel

    def record_failure(self, task: Task, error: BaseException, trace: str = "") -> None:
        self._put_json(self._failure_name(task), {**describe(task), "error": f"{type(error).__name__}: {error}",
                                                  "traceback": trace[-4000:], "time": time.time(),
                                                  "writer": _writer(self.worker)})

    def failure(self, task: Task) -> dict | None:
        rel = self._failure_name(task)
        if self.fs.size(rel) is None:
            return None
        try:
            return json.loads(self.fs.read(rel))
        except (OSError, ValueError):  # (removed meanwhile, or cut short: no usable record)
            return None

    def writer(self) -> dict:
        """What this process's commits say about who wrote them (host, pid, process, ``worker``)."""
        return _writer(self.worker)

    # -- notes: small records that are not results
    @staticmethod
    def _note_name(folder: str, name: str) -> str:
        for part in (folder, name):
            if not _NOTE.match(part):
                raise ValueError(f"note folders and names are words of letters, digits, '.', '_' and '-', "
                                 f"got {part!r}")
        return f"{NOTES}/{folder}/{name}.json"

    def put_note(self, folder: str, name: str, data: dict) -> None:
        """Write the note ``notes/<folder>/<name>.json`` whole (one put: a reader sees the old
        note, the new one or none), replacing an earlier one. Notes say what is going on (a
        sweep's cells in progress, what each host ran); no result is read from them."""
        self.fs.put(self._note_name(folder, name), json.dumps(data, default=_json_default).encode(), durable=False)

    def remove_note(self, folder: str, name: str) -> None:
        self.fs.remove(self._note_name(folder, name))

    def notes(self, folder: str) -> list[dict]:
        """Every readable note of ``folder``, each with ``"_name"`` and ``"_age"``: seconds since it
        was last written, by the storage's clock where it keeps one (a note cut short or removed
        meanwhile, or a file no note could be named, such as a sync tool's, is left out)."""
        self._note_name(folder, "x")  # (a bad folder is the caller's mistake: say so)
        out = []
        for file in self.fs.list(f"{NOTES}/{folder}"):
            if not (file.endswith(".json") and _NOTE.match(file[: -len(".json")])):
                continue
            rel = self._note_name(folder, file[: -len(".json")])
            try:
                data = json.loads(self.fs.read(rel))
                age = self.fs.age(rel)
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                out.append({**data, "_name": file[: -len(".json")], "_age": age})
        return out

    # -- listing
    def entries(self) -> Iterator[dict]:
        """The commit of every whole entry (with its ``summary`` and ``path``)."""
        for name in self.fs.list(COMMITS):
            for file in self.fs.list(f"{COMMITS}/{name}"):
                if not file.endswith(".json"):
                    continue
                rel = f"{COMMITS}/{name}/{file}"
                try:
                    rec, summary = self._read_commit(rel, file[: -len(".json")])
                except CorruptEntry:  # recomputed by the next run that needs it
                    continue
                rec["summary"] = summary
                rec["path"] = rel
                yield rec

    def write_manifest(self, extra: dict | None = None):
        """``manifest.json``: every entry a user can look up (call from process 0 only)."""
        entries = list(self.entries())
        failures = []
        for file in self.fs.list(FAILURES):
            try:
                failures.append(json.loads(self.fs.read(f"{FAILURES}/{file}")))
            except (OSError, ValueError):
                continue
        data = {"store": str(self.root), "format": FORMAT, "entries": len(entries), "failed": len(failures),
                **(extra or {}), "tasks": entries, "failures": failures}
        self._put_json(MANIFEST, data)
        return self.root / MANIFEST

    def sweep_tmp(self, older_than: float = 0.0) -> int:
        """Remove debris in ``tmp/`` (interrupted writes) untouched for ``older_than`` seconds."""
        removed = 0
        for name in self.fs.list(TMP):
            try:
                if self.fs.age(f"{TMP}/{name}") >= older_than:
                    self.fs.remove(f"{TMP}/{name}")
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
        Where ``fcntl`` is missing (Windows), and on object storage, nothing is locked: there two
        runs may compute one task twice, and store it once.
        """
        try:
            import fcntl
        except ImportError:
            fcntl = None
        if fcntl is None or not self.fs.local:
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
                holder = path.read_text().strip()
                for _ in range(20):  # the holder writes who it is just after taking the lock
                    if holder:
                        break
                    time.sleep(0.05)
                    holder = path.read_text().strip()
                holder = holder or "holder unknown"
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
