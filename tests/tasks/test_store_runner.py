"""Tasks, the store and the runner on toy tasks: keys, atomic entries, resumption, failures."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np
import pytest

from jaxinterp import tasks
from jaxinterp.tasks import Result, Store, Task
from jaxinterp.tasks.store import object_path

CALLS: list[str] = []


@dataclasses.dataclass(frozen=True)
class Scale:
    factor: float
    n: int = 5


def _source(ctx, c: Scale):
    CALLS.append("source")
    return Result({"x": np.arange(c.n, dtype=np.float32) * c.factor}, {"n": c.n})


def _square(ctx, c, x):
    CALLS.append("square")
    return Result({"y": x.arrays["x"] ** 2, "nested": {"s": np.float32(x.arrays["x"].sum())}}, {})


def _offset(ctx, c, y):
    CALLS.append(f"offset{c}")
    return Result({"z": y.arrays["y"] + c}, {"offset": c})


def graph(factor=2.0, offsets=(1, 2)):
    src = Task("source", Scale(factor), _source)
    sq = Task("square", (), _square, {"x": src})
    return src, sq, [Task("offset", o, _offset, {"y": sq}) for o in offsets]


def commit(store: Store, task: Task) -> dict:
    return json.loads((store.root / store.commit_name(task)).read_text())


def object_of(store: Store, task: Task, array: str):
    """The file of array ``array`` of ``task``'s entry."""
    return store.root / object_path(commit(store, task)["arrays"][array][2])


def flip_byte(path, at: int = -3) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_keys_follow_config_inputs_and_nothing_else():
    a, b = graph(2.0), graph(2.0)
    assert [t.key for t in (a[0], a[1], *a[2])] == [t.key for t in (b[0], b[1], *b[2])]
    c = graph(3.0)
    assert c[0].key != a[0].key and c[1].key != a[1].key  # a changed input changes the dependent
    assert a[2][0].key != a[2][1].key  # configs differ
    with pytest.raises(ValueError, match="frozen"):
        @dataclasses.dataclass
        class Loose:
            x: int = 1
        Task("bad", Loose(), _source)
    with pytest.raises(ValueError, match="arrays in a dependency"):
        Task("bad", (np.zeros(3),), _source)


def test_finished_tasks_are_never_recomputed(tmp_path):
    CALLS.clear()
    _, sq, offs = graph()
    store = Store(tmp_path)
    results, report = tasks.run(offs, store)
    assert CALLS == ["source", "square", "offset1", "offset2"]
    np.testing.assert_array_equal(results[offs[1].key].arrays["z"], np.arange(5.0) ** 2 * 4 + 2)
    assert results[offs[0].key].summary == {"offset": 1}
    CALLS.clear()
    results2, report2 = tasks.run(offs, store)
    assert CALLS == [] and report2.executed == [] and len(report2.loaded) == 4
    np.testing.assert_array_equal(results2[offs[1].key].arrays["z"], results[offs[1].key].arrays["z"])
    assert store.load(sq).arrays["nested"]["s"] == np.float32(20.0)  # nested dicts round-trip


def test_a_changed_field_recomputes_exactly_its_downstream(tmp_path):
    store = Store(tmp_path)
    tasks.run(graph(2.0, (1, 2))[2], store)
    CALLS.clear()
    _, _, offs = graph(2.0, (1, 3))  # one new leaf
    _, report = tasks.run(offs, store)
    assert CALLS == ["offset3"] and report.count("offset") == 1 and report.count("square") == 0
    CALLS.clear()
    _, _, offs = graph(5.0, (1, 3))  # the root: everything downstream, once each
    _, report = tasks.run(offs, store)
    assert sorted(CALLS) == ["offset1", "offset3", "source", "square"]
    assert {t.name for t in report.executed} == {"source", "square", "offset"}


def test_partial_writes_are_never_read(tmp_path):
    store = Store(tmp_path)
    src, sq, offs = graph()
    tasks.run([sq], store)
    # a writer killed half-way leaves debris in tmp/, objects no commit names, or a commit cut short
    (tmp_path / "tmp" / f"{offs[0].key}.json.dead").write_bytes(b'{"key": "')
    (tmp_path / "objects" / "ab").mkdir()
    (tmp_path / "objects" / "ab" / ("ab" * 32 + ".npy")).write_bytes(b"\x93NUMPY trunc")
    half = tmp_path / store.commit_name(offs[0])
    half.parent.mkdir(parents=True)
    half.write_bytes(b'{"format": 2, "key": "' + offs[0].key.encode())
    assert not store.has(offs[0])
    CALLS.clear()
    results, _ = tasks.run([offs[0]], store)
    assert CALLS == ["offset1"] and store.has(offs[0])
    np.testing.assert_array_equal(results[offs[0].key].arrays["z"], np.arange(5.0) ** 2 * 4 + 1)
    assert store.sweep_tmp() >= 1 and not any((tmp_path / "tmp").iterdir())


def test_damaged_entries_are_recomputed_not_read(tmp_path):
    store = Store(tmp_path)
    src, sq, offs = graph()
    tasks.run(offs, store)
    flip_byte(object_of(store, sq, "y"))  # a byte of the array data, after it was written
    with pytest.raises(tasks.CorruptEntry, match="checksum"):
        store.load(sq)
    CALLS.clear()
    _, _, offs2 = graph(2.0, (7,))  # needs the damaged entry as its input
    results, report = tasks.run(offs2, store)
    assert CALLS == ["square", "offset7"]
    np.testing.assert_array_equal(results[offs2[0].key].arrays["z"], np.arange(5.0) ** 2 * 4 + 7)
    assert store.load(sq).arrays["y"].tolist() == (np.arange(5.0) ** 2 * 4).tolist()


def _boom(ctx, c, y):
    raise RuntimeError("planted failure")


def test_a_failure_is_recorded_and_the_rest_goes_on(tmp_path):
    store = Store(tmp_path)
    src, sq, offs = graph()
    bad = Task("offset", "boom", _boom, {"y": sq})
    after = Task("after", (), _square, {"x": bad})
    _, report = tasks.run([bad, after, *offs], store, keep_going=True)
    assert report.failed == {bad.key: "RuntimeError: planted failure"}
    assert report.skipped == [after.key]
    assert all(store.has(t) for t in offs)
    failure = store.failure(bad)
    assert failure["error"] == "RuntimeError: planted failure" and "planted failure" in failure["traceback"]
    with pytest.raises(tasks.TaskFailed, match="planted failure"):
        tasks.run([bad], store)
    manifest = json.loads(store.write_manifest().read_text())
    assert manifest["entries"] == 4 and manifest["failed"] == 1
    assert {e["name"] for e in manifest["tasks"]} == {"source", "square", "offset"}


def test_entries_are_plain_npy_files_and_a_commit(tmp_path):
    store = Store(tmp_path)
    src, sq, _ = graph()
    tasks.run([sq], store)
    meta = commit(store, sq)
    assert meta["name"] == "square" and meta["key"] == sq.key and meta["inputs"] == {"x": src.key}
    assert meta["version"] == 1 and meta["format"] == tasks.FORMAT and meta["writer"]["pid"] == os.getpid()
    shape, dtype, file, crc = meta["arrays"]["nested/s"]
    assert (shape, dtype) == ([], "float32") and re.fullmatch(r"[0-9a-f]{64}\.npy", file)
    np.testing.assert_array_equal(np.load(object_of(store, sq, "y")), np.arange(5.0) ** 2 * 4)
    object_of(store, sq, "nested/s").unlink()  # a missing object is damage too
    with pytest.raises(tasks.CorruptEntry, match="cannot be read"):
        store.load(sq)


def test_a_task_must_return_a_result(tmp_path):
    t = Task("wrong", (), lambda ctx, c: {"x": 1})
    with pytest.raises(tasks.TaskFailed, match="Result"):
        tasks.run([t], Store(tmp_path))
    assert not Store(tmp_path).has(t)


def test_scratch_survives_until_the_entry_is_saved(tmp_path):
    store = Store(tmp_path)
    seen = {}

    def long_fit(ctx, c):
        marker = ctx.scratch / "step_1"
        seen["resumed"] = marker.exists()
        marker.write_text("half-way")
        if not seen.get("second"):
            raise KeyboardInterrupt  # the crash
        return Result({"w": np.ones(2)}, {})

    t = Task("fit", 1, long_fit)
    with pytest.raises(KeyboardInterrupt):
        tasks.run([t], store)
    seen["second"] = True
    tasks.run([t], store)
    assert seen["resumed"] is True  # the second run found the first run's checkpoint
    assert not (tmp_path / "scratch" / t.key).exists()
    assert os.listdir(tmp_path / "commits" / "fit") == [f"{t.key}.json"]


def test_results_are_written_behind_and_flushed_on_interrupt(tmp_path):
    store = Store(tmp_path)
    src, sq, offs = graph()

    def interrupted(ctx, c, y):
        raise KeyboardInterrupt

    stop = Task("stop", (), interrupted, {"y": sq})
    with pytest.raises(KeyboardInterrupt):
        tasks.run([stop], store)
    assert store.has(src) and store.has(sq)  # written by the background writer before re-raising
    np.testing.assert_array_equal(store.load(sq).arrays["y"], np.arange(5.0) ** 2 * 4)


def test_unsaveable_results_fail_as_the_task(tmp_path):
    bad = Task("bad", (), lambda ctx, c: Result({"x": np.array([object()])}, {}))
    with pytest.raises(tasks.TaskFailed, match="dtype object"):
        tasks.run([bad], Store(tmp_path))
    assert Store(tmp_path).failure(bad)["error"].startswith("ValueError")


def _passthrough(ctx, c, x):
    CALLS.append("passthrough")
    return Result({"same": x.arrays["x"], "copy": x.arrays["x"].copy()}, {})


def test_an_input_array_passed_through_is_stored_once(tmp_path):
    store = Store(tmp_path)
    src = Task("source", Scale(3.0), _source)
    thru = Task("passthrough", (), _passthrough, {"x": src})
    tasks.run([thru], store)
    meta = commit(store, thru)
    assert meta["arrays"]["same"] == meta["arrays"]["copy"] == commit(store, src)["arrays"]["x"]  # one object
    assert len(list((tmp_path / "objects").rglob("*.npy"))) == 1
    loaded = store.load(thru)
    np.testing.assert_array_equal(loaded.arrays["same"], np.arange(5, dtype=np.float32) * 3)
    np.testing.assert_array_equal(loaded.arrays["copy"], loaded.arrays["same"])
    loaded.arrays["same"][0] = 7  # each load is its own writable array
    assert loaded.arrays["copy"][0] == 0 and store.load(src).arrays["x"][0] == 0
    # damage the input's object: the pass-through entry is damaged too, and both are recomputed
    flip_byte(object_of(store, src, "x"), -2)
    with pytest.raises(tasks.CorruptEntry, match="checksum"):
        store.load(thru)
    CALLS.clear()
    tasks.run([thru], store)
    assert CALLS == ["source", "passthrough"]
    np.testing.assert_array_equal(store.load(thru).arrays["same"], np.arange(5, dtype=np.float32) * 3)


@pytest.mark.parametrize("name", ["commit", "summary"])
def test_a_truncated_commit_or_summary_is_recomputed(tmp_path, name):
    store = Store(tmp_path)
    src, sq, offs = graph()
    first, _ = tasks.run(offs, store)
    before = store.load(sq)
    path = tmp_path / (store.commit_name(sq) if name == "commit" else object_path(commit(store, sq)["summary"][0]))
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # a write cut short
    with pytest.raises(tasks.CorruptEntry, match=re.escape(str(path))):  # it names the file
        store.load(sq)
    assert not store.has(sq)
    assert sq.key not in {e["key"] for e in store.entries()}  # the manifest skips it, and does not fail
    store.write_manifest()
    CALLS.clear()
    results, report = tasks.run(offs, store)
    assert CALLS == ["square"] and report.count("square") == 1 and len(report.executed) == 1
    after = store.load(sq)
    np.testing.assert_array_equal(after.arrays["y"], before.arrays["y"])
    assert after.summary == before.summary
    for t in offs:
        np.testing.assert_array_equal(results[t.key].arrays["z"], first[t.key].arrays["z"])


def test_an_edited_summary_is_recomputed_not_shown(tmp_path):
    store = Store(tmp_path)
    _, _, offs = graph()
    tasks.run(offs, store)
    path = tmp_path / object_path(commit(store, offs[0])["summary"][0])
    path.write_text(path.read_text().replace("1", "12345"))  # still valid JSON: {"offset": 12345}
    with pytest.raises(tasks.CorruptEntry, match="does not match the checksum"):
        store.load(offs[0])
    CALLS.clear()
    results, report = tasks.run(offs, store)
    assert CALLS == ["offset1"] and report.count("offset") == 1
    assert results[offs[0].key].summary == {"offset": 1} and "12345" not in path.read_text()  # written anew


@pytest.mark.parametrize("planted", ["../../x.npy", "ABSOLUTE", "sub/x.npy"])
def test_object_names_in_a_commit_are_content_names(tmp_path, planted):
    store = Store(tmp_path / "store")
    src, sq, offs = graph()
    tasks.run(offs, store)
    meta = commit(store, sq)
    good = meta["arrays"]["y"][2]
    planted = str(tmp_path / "x.npy") if planted == "ABSOLUTE" else planted
    target = (tmp_path / "store" / "objects" / good[:2] / planted)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.save(target, store.load(sq).arrays["y"])  # the very array, so only the name is wrong
    meta["arrays"]["y"][2] = planted
    (tmp_path / "store" / store.commit_name(sq)).write_text(json.dumps(meta))
    with pytest.raises(tasks.CorruptEntry, match="'<sha256>.npy'"):
        store.load(sq)
    CALLS.clear()
    results, _ = tasks.run(offs, store)
    assert CALLS == ["square"]  # recomputed, not read from outside the objects
    assert commit(store, sq)["arrays"]["y"][2] == good
    np.testing.assert_array_equal(results[offs[0].key].arrays["z"], np.arange(5.0) ** 2 * 4 + 1)


def test_two_runs_on_one_store_compute_each_task_once(tmp_path, capsys):
    import threading
    import time

    def slow(ctx, c, x):
        CALLS.append("slow")
        time.sleep(0.5)  # the second run starts while this one computes
        return Result({"w": x.arrays["x"] + 1}, {})

    src = Task("source", Scale(4.0), _source)
    leaf = Task("slow", (), slow, {"x": src})
    start = threading.Barrier(2)
    outcomes = []

    def one_run():
        start.wait()
        outcomes.append(tasks.run([leaf], Store(tmp_path)))  # each run its own Store, as two commands

    CALLS.clear()
    runs = [threading.Thread(target=one_run) for _ in range(2)]
    for r in runs:
        r.start()
    for r in runs:
        r.join(timeout=60)
    assert len(outcomes) == 2 and sorted(CALLS) == ["slow", "source"]  # each task once in total
    assert sorted(len(rep.executed) for _, rep in outcomes) == [0, 2]
    for results, _ in outcomes:
        np.testing.assert_array_equal(results[leaf.key].arrays["w"], np.arange(5.0) * 4 + 1)
    err = capsys.readouterr().err
    assert err.count("another run holds the store") == 1 and f"(pid {os.getpid()} on host" in err
    assert (tmp_path / "lock").read_text() == ""  # released


def test_the_store_lock_is_reentrant(tmp_path):
    import threading

    store = Store(tmp_path)
    src = Task("source", Scale(5.0), _source)

    def nested(ctx, c):  # a task that runs tasks on the same store
        inner, _ = tasks.run([src], ctx.store)
        return Result({"v": inner[src.key].arrays["x"] * 2}, {})

    outer = Task("nested", (), nested)
    done = []
    t = threading.Thread(target=lambda: done.append(tasks.run([outer], store)))
    t.start()
    t.join(timeout=60)
    assert done, "a run inside a run on the same store deadlocked"
    np.testing.assert_array_equal(done[0][0][outer.key].arrays["v"], np.arange(5.0) * 10)


def test_old_debris_is_swept_at_the_start_of_a_run(tmp_path):
    store = Store(tmp_path)
    old, fresh, legacy = (tmp_path / "tmp" / "abc.json.1234", tmp_path / "tmp" / "key.json.5678",
                          tmp_path / "tmp" / "corrupt-abc-1234")
    legacy.mkdir()  # a folder moved aside by a format-1 store
    for f in (old, fresh, legacy / "a0000.npy"):
        f.write_bytes(b"x")
    hours_ago = os.stat(old).st_mtime - 2 * 3600
    for p in (old, legacy / "a0000.npy", legacy):
        os.utime(p, (hours_ago, hours_ago))
    tasks.run([graph()[0]], store)
    assert not old.exists() and not legacy.exists()  # left long ago: gone
    assert fresh.exists()  # maybe a peer process's write in flight: left for a later run


def test_a_store_that_cannot_be_locked_still_runs_and_says_so(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)  # e.g. a network filesystem without lock support
    results, report = tasks.run([graph()[0]], Store(tmp_path))
    assert len(report.executed) == 1
    assert "cannot lock the store" in capsys.readouterr().err


def test_runner_pieces_a_task_and_a_reader_see(tmp_path, monkeypatch):
    """What a task function is handed, what run reports, what the store's task.json says
    (describe), that the key follows the store format, and atomic JSON writes."""
    seen = []

    def fn(ctx, c):
        seen.append(ctx)
        ctx.log("working")
        return Result({"x": np.full(2, c, np.float32)}, {"c": c})

    t = Task("probe", 3, fn)
    _, report = tasks.run([t], Store(tmp_path / "s"), log=lambda msg: None)
    assert isinstance(report, tasks.RunReport) and report.executed == [t] and report.count("probe") == 1
    assert isinstance(seen[0], tasks.Context) and seen[0].task is t and seen[0].scratch.is_dir()
    meta = json.loads(next((tmp_path / "s" / "commits" / "probe").glob("*.json")).read_text())
    assert {k: meta[k] for k in tasks.describe(t)} == tasks.describe(t) == {
        "name": "probe", "key": t.key, "config": 3, "inputs": {}, "collective": False, "version": 1,
        "layout": None}
    assert tasks.task_key(t) == t.key
    from jaxinterp.tasks import task as task_module

    monkeypatch.setattr(task_module, "FORMAT", tasks.FORMAT + 1)  # a new store format: new keys
    assert tasks.task_key(Task("probe", 3, fn)) != t.key

    target = tmp_path / "j" / "out.json"
    tasks.write_json_atomic(target, {"a": [1, 2], "nan": float("nan"), "arr": np.float32(0.5)})
    tasks.write_json_atomic(target, {"a": [3]})  # replaced whole
    assert json.loads(target.read_text()) == {"a": [3]} and os.listdir(target.parent) == ["out.json"]


def test_every_dtype_and_shape_round_trips_and_np_load_reads_each_object(tmp_path):
    arrays = {"bool": np.array([True, False]), "i64": np.arange(6, dtype=np.int64).reshape(2, 3),
              "c64": np.array([1 + 2j], np.complex64), "text": np.array(["ab", "cde"]),
              "empty": np.zeros((0, 3), np.float32), "scalar": np.float64(2.5),
              "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "strided": np.arange(10.0)[::3],
              "big_endian": np.arange(3, dtype=">f4"), "record": np.array([(1, 2.0)], [("a", "i4"), ("b", "f8")])}
    t = Task("all", (), lambda ctx, c: Result(arrays, {}))
    store = Store(tmp_path)
    tasks.run([t], store)
    loaded = store.load(t).arrays
    for name, a in arrays.items():
        for got in (loaded[name], np.load(object_of(store, t, name))):
            assert got.dtype == np.asarray(a).dtype and got.shape == np.shape(a), name
            np.testing.assert_array_equal(got, a, err_msg=name)
        assert loaded[name].flags.writeable, name


def test_notes_are_small_records_beside_the_results():
    """put_note / notes / remove_note go through the store's file operations (here a fake object
    store whose puts tear): a note being rewritten is read whole or not at all, with its age."""
    from tests.tasks.fake_fs import Crash, FakeFS

    fs = FakeFS()
    store = Store(fs=fs, worker={"process": 3, "processes": 4})
    store.put_note("running", "abc", {"cell": "a", "pid": 1})
    store.put_note("running", "def", {"cell": "b", "pid": 2})
    got = sorted(store.notes("running"), key=lambda n: n["_name"])
    assert [(n["_name"], n["cell"]) for n in got] == [("abc", "a"), ("def", "b")]
    assert all(0 <= n["_age"] < 60 for n in got)
    store.remove_note("running", "abc")
    assert [n["_name"] for n in store.notes("running")] == ["def"]
    fs.crash_at = fs.writes + 1  # killed before the copy: the old note stands
    with pytest.raises(Crash):
        store.put_note("running", "def", {"cell": "b", "pid": 2, "beat": 1.0})
    fs.restart()
    assert [n["cell"] for n in store.notes("running")] == ["b"] and "beat" not in store.notes("running")[0]
    fs.crash_at = fs.writes + 2  # killed mid-copy: half a note
    with pytest.raises(Crash):
        store.put_note("running", "def", {"cell": "b", "pid": 2, "beat": 1.0})
    fs.restart()
    assert store.notes("running") == []  # (a torn note is skipped, never half-read)
    assert store.notes("hosts") == []
    with pytest.raises(ValueError, match="note folders and names"):
        store.put_note("running", "../x", {})
    assert store.writer()["process"] == 3 and store.writer()["processes"] == 4


def test_notes_skip_files_no_note_could_be_named(tmp_path):
    """A sync tool's or gcsfuse's *.json beside the notes (a space, a leading dot, a name over 200
    characters) is left out, as an unreadable note is: it does not make every notes() call raise."""
    store = Store(tmp_path / "store")
    store.put_note("running", "abc", {"cell": "a"})
    folder = tmp_path / "store" / "notes" / "running"
    for name in ("abc (conflicted copy).json", ".gcsfuse_tmp.json", "x" * 201 + ".json"):
        (folder / name).write_text('{"cell": "foreign"}')
    assert [(n["_name"], n["cell"]) for n in store.notes("running")] == [("abc", "a")]
    with pytest.raises(ValueError, match="note folders and names"):
        store.notes("../commits")


def test_a_local_run_takes_no_lock_and_runs_collective_tasks_alone(tmp_path):
    """local=True (a sweep's cells): no store lock to wait for (the caller shares out the work),
    and a collective task is computed by this process on its own devices."""
    import threading

    store = Store(tmp_path)
    seen = []

    def capture(ctx, c):
        seen.append(ctx.collective)
        return Result({"x": np.zeros(2)}, {})

    held, release = threading.Event(), threading.Event()

    def hold():
        with store.lock():
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        done = []
        runner = threading.Thread(target=lambda: done.append(
            tasks.run(Task("capture", 1, capture, collective=True), store, local=True)))
        runner.start()
        runner.join(20)
        assert done, "a local run waited for the store's lock"
    finally:
        release.set()
        holder.join()
    assert seen == [False] and store.has(Task("capture", 1, capture, collective=True))
