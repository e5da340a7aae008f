"""The store on weak filesystems: a crash between any two writes, renames that are copies, epath."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from jaxinterp import tasks
from jaxinterp.tasks import Result, Store, Task
from jaxinterp.tasks.fs import EpathFS, PosixFS, filesystem
from jaxinterp.tasks.store import object_path
from tests.tasks.fake_fs import Crash, FakeFS


@dataclasses.dataclass(frozen=True)
class Size:
    n: int


def _source(ctx, c: Size):
    return Result({"x": np.arange(c.n, dtype=np.float32) + 0.5, "idx": np.arange(c.n)}, {"n": c.n})


def _square(ctx, c, x):
    y = x.arrays["x"] ** 2
    return Result({"y": y, "nested": {"s": np.float32(y.sum())}}, {"sum": float(y.sum())})


def _through(ctx, c, x):  # passes its input's array on: stored once, in one object
    return Result({"same": x.arrays["x"], "neg": -x.arrays["x"]}, {})


def _leaf(ctx, c, y, t):
    return Result({"z": y.arrays["y"] + t.arrays["neg"] + c}, {"offset": c})


def graph():
    src = Task("source", Size(6), _source)
    sq = Task("square", (), _square, {"x": src})
    thru = Task("through", (), _through, {"x": src})
    leaves = [Task("leaf", float(o), _leaf, {"y": sq, "t": thru}) for o in (1, 2)]
    return [src, sq, thru, *leaves], leaves


def _same(a: Result, b: Result) -> None:
    fa, fb = tasks.store.flatten_arrays(a.arrays), tasks.store.flatten_arrays(b.arrays)
    assert fa.keys() == fb.keys() and a.summary == b.summary
    for name in fa:
        assert fa[name].dtype == fb[name].dtype and np.array_equal(fa[name], fb[name]), name


def test_a_crash_between_any_two_writes_never_reads_a_partial_entry_and_resumes():
    every, leaves = graph()
    clean = FakeFS()
    reference, _ = tasks.run(leaves, Store(fs=clean))
    ref = {t.key: Store(fs=clean).load(t) for t in every}
    total = clean.writes
    assert total > 40  # objects, summaries and commits of 5 tasks, 4 writes each
    for crash_at in range(total):
        fs = FakeFS(crash_at=crash_at)
        with pytest.raises(Crash):
            tasks.run(leaves, Store(fs=fs))
        fs.restart()  # the next process, on what the dead one left
        store = Store(fs=fs)
        missing = set()
        for t in every:  # whatever is readable is whole: the very result, never part of one
            try:
                _same(store.load(t), ref[t.key])
            except (KeyError, tasks.CorruptEntry):
                missing.add(t.key)
        results, report = tasks.run(leaves, store)
        assert {t.key for t in report.executed} == missing, crash_at  # exactly what was not committed
        for t in leaves:
            _same(results[t.key], reference[t.key])
        for t in every:
            _same(store.load(t), ref[t.key])
        store.sweep_tmp()  # the dead process's temporary file, if it left one
        assert not fs.list("tmp") and all(store.has(t) for t in every)


def test_renames_that_are_copies_leave_torn_files_that_are_rewritten_not_trusted():
    every, leaves = graph()
    src = every[0]
    fs = FakeFS()
    store = Store(fs=fs)
    tasks.run([src], store)
    commit = json.loads(fs.read(store.commit_name(src)))
    obj = object_path(commit["arrays"]["x"][2])
    whole = fs.files[obj]
    fs.files[obj] = whole[: len(whole) // 2]  # a copy cut short
    with pytest.raises(tasks.CorruptEntry, match="checksum"):
        store.load(src)
    _, report = tasks.run(leaves, store)  # its dependents need it: recomputed, the object written anew
    assert report.count("source") == 1 and fs.files[obj] == whole
    name = store.commit_name(every[1])
    fs.files[name] = fs.files[name][:-9]  # a torn commit
    assert not store.has(every[1])
    _, report = tasks.run([every[1]], store)
    assert [t.name for t in report.executed] == ["square"] and store.has(every[1])


def test_a_task_computed_twice_is_stored_once():
    every, leaves = graph()
    fs = FakeFS()
    tasks.run(leaves, Store(fs=fs))
    files = dict(fs.files)
    for t in every:  # a second worker computed every cell again and saves it: nothing changes
        Store(fs=fs).save(t, t.fn(None, t.config, **{k: Store(fs=fs).load(d) for k, d in t.deps.items()}))
    assert fs.files == files
    src, thru = every[0], every[2]
    x = json.loads(fs.read(Store.commit_name(src)))["arrays"]["x"]
    assert json.loads(fs.read(Store.commit_name(thru)))["arrays"]["same"] == x  # one object for both


def test_an_epath_store_on_a_local_folder_equals_the_posix_one(tmp_path):
    every, leaves = graph()
    posix, _ = tasks.run(leaves, Store(tmp_path / "posix"))
    epath_store = Store(fs=EpathFS(tmp_path / "epath"))
    results, report = tasks.run(leaves, epath_store)
    assert len(report.executed) == len(every)
    for t in leaves:
        _same(results[t.key], posix[t.key])
    assert sorted(p.name for p in (tmp_path / "epath").iterdir()) == ["commits", "objects"]  # no lock, no tmp/
    commit = json.loads((tmp_path / "epath" / Store.commit_name(every[1])).read_text())
    y = np.load(tmp_path / "epath" / object_path(commit["arrays"]["y"][2]))  # plain .npy objects
    np.testing.assert_array_equal(y, (np.arange(6, dtype=np.float32) + 0.5) ** 2)
    objects = {root: sorted(p.relative_to(tmp_path / root) for p in (tmp_path / root / "objects").rglob("*"))
               for root in ("posix", "epath")}
    assert objects["posix"] == objects["epath"]  # the same objects, named by content
    _, again = tasks.run(leaves, Store(fs=EpathFS(tmp_path / "epath")))
    assert again.executed == []


def test_roots_name_their_filesystem(tmp_path):
    assert isinstance(filesystem(tmp_path), PosixFS) and isinstance(filesystem("gs://bucket/results"), EpathFS)
    store = Store("gs://bucket/results")  # nothing is read or written until a run
    assert str(store.root) == "gs://bucket/results" and not store.fs.local
    with pytest.raises(ValueError, match="not both"):
        Store(tmp_path, fs=FakeFS())
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        Store(tmp_path / "file")
