"""Dataset fingerprints: the same data elsewhere gives the same task keys, other data other keys,
no absolute path in any key, and no file read in full at every start."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxinterp import steps
from jaxinterp.cache import cache_dir
from jaxinterp.data import data_fingerprint
from jaxinterp.data import fingerprint as fp
from jaxinterp.tasks.task import canonical
from tests.data.images import tiny, write_flat, write_folder

MODEL = ("small_cnn_rgb", "random:0")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXINTERP_CACHE", str(tmp_path / "cache"))


def _key(data) -> str:
    return steps.capture_task(steps.model_spec(*MODEL), data, "relu2").key


def test_the_same_data_elsewhere_gives_the_same_keys(tmp_path):
    images, labels = tiny()
    a = tmp_path / "host_a" / "mnt"
    write_folder(a / "folder", images, labels)
    write_flat(a / "flat", images, labels)
    np.savez(a / "d.npz", images=images, labels=labels)
    b = tmp_path / "host_b" / "elsewhere"
    shutil.copytree(a, b)  # keeps modification times, as cp -a and rsync -a do
    shutil.copy(a / "d.npz", b / "d.npz")  # a fresh modification time: the content decides
    for name, labels_file in [("folder", None), ("flat", "flat/labels.csv"), ("d.npz", None)]:
        spec_a = steps.data_spec(a / name, labels=labels_file and a / labels_file)
        spec_b = steps.data_spec(b / name, labels=labels_file and b / labels_file)
        assert spec_a == spec_b and _key(spec_a) == _key(spec_b), name
        assert spec_a.path != spec_b.path  # each knows where its own data lies
        assert data_fingerprint(a / name, labels_file and a / labels_file) == data_fingerprint(
            b / name, labels_file and b / labels_file)
        config = json.dumps(canonical(steps.capture_task(steps.model_spec(*MODEL), spec_a, "relu2").config))
        assert str(tmp_path) not in config and "host_a" not in config, config
    (a / "w.th").write_bytes(b"weights")  # weights, too, are named by content, not by path
    shutil.copy(a / "w.th", b / "w.th")
    spec_a, spec_b = steps.model_spec("small_cnn_rgb", a / "w.th"), steps.model_spec("small_cnn_rgb", b / "w.th")
    assert spec_a == spec_b and spec_a.path != spec_b.path
    data = steps.data_spec(a / "d.npz")
    assert steps.capture_task(spec_a, data, "relu2").key == steps.capture_task(spec_b, data, "relu2").key


def test_other_data_other_keys(tmp_path):
    images, labels = tiny()
    root = write_folder(tmp_path / "f", images, labels)
    before = steps.data_spec(root)
    for change in ("replace", "add", "rename"):
        victim = sorted((root / "dog").iterdir())[0]
        if change == "replace":  # other pixels, another size on disk
            Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(victim)
        elif change == "add":
            shutil.copy(victim, root / "emu" / "new.png")
        else:
            victim.rename(victim.with_name("zz.png"))
        after = steps.data_spec(root)
        assert after.fingerprint != before.fingerprint and _key(after) != _key(before), change
        before = after
    limited = steps.data_spec(root, limit=5)
    assert limited != before and _key(limited) != _key(before)
    flat, table = write_flat(tmp_path / "flat", images, labels)
    one = steps.data_spec(flat, labels=table)
    table.write_text(table.read_text().replace(",0\n", ",1\n"))  # the same images, other labels
    assert steps.data_spec(flat, labels=table) != one


def test_no_file_is_read_in_full_at_every_start(tmp_path, monkeypatch):
    images, labels = tiny()
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    root = write_folder(tmp_path / "f", images, labels)
    monkeypatch.setattr(fp, "SETTLE_SECONDS", 0.0)  # as data that has lain on disk for a while
    reads = []
    real = fp._sha256_of
    monkeypatch.setattr(fp, "_sha256_of", lambda path: reads.append(path.name) or real(path))
    first = steps.data_spec(tmp_path / "d.npz")
    assert reads == ["d.npz"]  # hashed once on this host ...
    assert cache_dir() == tmp_path / "cache" and len(list((cache_dir() / "fingerprints").iterdir())) == 1
    assert steps.data_spec(tmp_path / "d.npz") == first and reads == ["d.npz"]  # ... then only stat-ed
    steps.data_spec(root)
    assert reads == ["d.npz"]  # a folder's images are never read to fingerprint it
    monkeypatch.setattr(fp, "SETTLE_SECONDS", 2.0)
    np.savez(tmp_path / "d.npz", images=images[::-1], labels=labels)  # rewritten in place, same size
    assert steps.data_spec(tmp_path / "d.npz") != first and reads == ["d.npz", "d.npz"]


def test_a_file_rewritten_within_one_mtime_tick_is_not_mistaken_for_the_old(tmp_path):
    """Within seconds of a change the content is hashed again each time, not looked up by stat."""
    images, labels = tiny()
    path = tmp_path / "d.npz"
    np.savez(path, images=images, labels=labels)
    first = steps.data_spec(path)
    stat = path.stat()
    np.savez(path, images=images[::-1], labels=labels)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time: stat cannot tell
    assert steps.data_spec(path) != first


def test_a_labels_path_under_home_is_expanded_as_open_data_does(tmp_path, monkeypatch):
    images, labels = tiny()
    flat, table = write_flat(tmp_path / "flat", images, labels)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    monkeypatch.setenv("HOME", str(tmp_path))
    for data, labels_file in [(flat, "~/flat/labels.csv"), (tmp_path / "images.npy", "~/labels.npy")]:
        assert data_fingerprint(data, labels_file) == data_fingerprint(data, tmp_path / labels_file[2:])
        assert steps.data_spec(data, labels=labels_file) == steps.data_spec(data, labels=tmp_path / labels_file[2:])


def test_a_converted_weights_folder_is_named_by_content_and_read_once_per_host(tmp_path, monkeypatch):
    """A ``jaxinterp convert`` folder: the same bytes elsewhere give the same spec, one byte changed
    in any file gives another, and a later start only stat-s its files."""
    monkeypatch.setattr(fp, "SETTLE_SECONDS", 0.0)  # as weights that have lain on disk for a while
    reads = []
    real = fp._sha256_of
    monkeypatch.setattr(fp, "_sha256_of", lambda path: reads.append(path.name) or real(path))
    a = tmp_path / "a" / "weights"
    (a / "sub").mkdir(parents=True)
    (a / "params.msgpack").write_bytes(bytes(range(256)) * 64)
    (a / "meta.json").write_text('{"arch": "small_cnn_rgb"}')
    (a / "sub" / "extra.bin").write_bytes(b"\x00" * 100)
    first = steps.model_spec("small_cnn_rgb", a)
    assert sorted(reads) == ["extra.bin", "meta.json", "params.msgpack"]
    assert steps.model_spec("small_cnn_rgb", a) == first and len(reads) == 3  # cached: only stat-ed
    b = tmp_path / "elsewhere" / "w"
    shutil.copytree(a, b, copy_function=shutil.copyfile)  # fresh times: the content decides
    assert steps.model_spec("small_cnn_rgb", b) == first and steps.model_spec("small_cnn_rgb", b).path != first.path
    for name in ("params.msgpack", "sub/extra.bin"):
        victim = b / name
        content = bytearray(victim.read_bytes())
        content[37] ^= 1  # one byte, the same size
        stat = victim.stat()
        victim.write_bytes(bytes(content))
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # rewritten a second later
        changed = steps.model_spec("small_cnn_rgb", b)
        assert changed.fingerprint != first.fingerprint, name
        content[37] ^= 1
        victim.write_bytes(bytes(content))  # restored
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
        assert steps.model_spec("small_cnn_rgb", b) == first, name
    (b / "meta.json").rename(b / "meta2.json")  # same bytes, another name
    assert steps.model_spec("small_cnn_rgb", b) != first
