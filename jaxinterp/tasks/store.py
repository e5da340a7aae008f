"""The results store: one directory per finished task, written atomically, never recomputed.

Layout under ``root``::

    manifest.json                    every entry: task, config, inputs, summary (process 0 writes it)
    entries/<task name>/<key>/       a0000.npy ... (one per array), summary.json, task.json (written last)
    failures/<key>.json              the error of a task that raised, for `sweep --status`
    scratch/<key>/                   checkpoints a long task keeps while it runs (SAE, K-means, training)
    tmp/                             entries being written; never read

An entry is assembled in ``tmp/`` and moved into ``entries/`` with one ``rename``,
so a reader sees either nothing or the whole entry: a process killed half-way
leaves only ``tmp/`` debris, which is ignored and swept. ``task.json`` records the
name, file, shape, dtype and the CRC-32 of the bytes of every array (each a plain
``.npy`` that ``np.load`` opens); :meth:`Store.load` checks them, so a file
damaged later is reported and recomputed, never silently read.

An array a task passes through unchanged from one of its inputs (the very object,
e.g. the neurons' activations, which are the captured activations themselves) is not
written twice: ``task.json`` records ``[shape, dtype, "@<input name>", crc]`` and
:meth:`Store.load` reads it from that input's entry (checked against the same CRC-32).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from jaxinterp.tasks.task import Result, Task, describe

SUMMARY, TASK, MANIFEST = "summary.json", "task.json", "manifest.json"
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


def _crc32(a: np.ndarray) -> str:
    """CRC-32 of an array's bytes (C order)."""
    return f"{zlib.crc32(np.ascontiguousarray(a).reshape(-1).view(np.uint8)):08x}"


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default, allow_nan=True))
    os.replace(tmp, path)


class CorruptEntry(RuntimeError):
    """An entry whose files do not match what was written; it is moved aside and recomputed."""


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
        return (self.entry_dir(task) / TASK).is_file()

    def load(self, task: Task, verify: bool = True) -> Result:
        """The saved :class:`Result` of ``task`` (checksum verified); KeyError if absent."""
        entry = self.entry_dir(task)
        if not (entry / TASK).is_file():
            raise KeyError(f"no result for {task!r} in {self.root}")
        meta = json.loads((entry / TASK).read_text())
        if meta.get("key") != task.key:
            raise CorruptEntry(f"{entry} holds key {meta.get('key')}, expected {task.key}")
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
        return Result(unflatten_arrays(flat), json.loads((entry / SUMMARY).read_text()))

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
        if entry.exists():
            os.replace(entry, self.root / "tmp" / f"corrupt-{task.key}-{uuid.uuid4().hex[:8]}")
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
        (tmp / SUMMARY).write_text(json.dumps(result.summary, indent=1, default=_json_default))
        meta = {**describe(task), "arrays": index, "seconds": seconds, "written": time.time()}
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
                meta = json.loads(meta_path.read_text())
                meta["summary"] = json.loads((meta_path.parent / SUMMARY).read_text())
            except (OSError, ValueError):
                continue
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
        """Remove debris of interrupted writes in ``tmp/`` (older than ``older_than`` seconds)."""
        removed = 0
        now = time.time()
        for p in (self.root / "tmp").iterdir():
            try:
                if now - p.stat().st_mtime >= older_than:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
                    removed += 1
            except OSError:
                continue
        return removed
