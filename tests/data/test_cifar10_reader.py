"""CIFAR-10 reader on batch files written here in the official python-pickle format."""

import pickle
import tarfile

import numpy as np
import pytest

from jaxinterp.data import load_cifar10, load_npz


def official_batch(images_nhwc, labels):
    # the official layout: rows of 1024 red, 1024 green, 1024 blue values
    data = np.concatenate(
        [images_nhwc[..., c].reshape(len(images_nhwc), -1) for c in range(3)], axis=1
    )
    return {b"batch_label": b"testing batch", b"labels": list(map(int, labels)), b"data": data,
            b"filenames": [b"x.png"] * len(labels)}


@pytest.fixture
def cifar_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    truth = {}
    for name, n in [*((f"data_batch_{i}", 3) for i in range(1, 6)), ("test_batch", 4)]:
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        truth[name] = (images, labels)
        with open(folder / name, "wb") as f:
            pickle.dump(official_batch(images, labels), f)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": 3, b"num_vis": 3072}, f)
    return folder, truth


def test_reads_test_and_train_splits(cifar_folder):
    folder, truth = cifar_folder
    test = load_cifar10(folder, "test")
    np.testing.assert_array_equal(test.images, truth["test_batch"][0])
    np.testing.assert_array_equal(test.labels, truth["test_batch"][1])
    assert test.class_names[0] == "airplane" and test.images.dtype == np.uint8
    train = load_cifar10(folder.parent, "train")  # the parent folder works too
    assert train.images.shape == (15, 32, 32, 3)
    np.testing.assert_array_equal(train.images[3:6], truth["data_batch_2"][0])


def test_reads_the_tarball(cifar_folder, tmp_path):
    folder, truth = cifar_folder
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    test = load_cifar10(archive, "test")
    np.testing.assert_array_equal(test.images, truth["test_batch"][0])


def test_npz(tmp_path):
    images = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([3, 4]))
    ds = load_cifar10(tmp_path / "d.npz")
    np.testing.assert_array_equal(ds.images, images)
    assert list(ds.labels) == [3, 4]


def test_errors(tmp_path, cifar_folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batches"):
        load_cifar10(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a readable CIFAR-10 batch"):
        load_cifar10(tmp_path / "junk")
    np.savez(tmp_path / "bad.npz", pixels=np.zeros(3))
    with pytest.raises(ValueError, match="expected 'images'"):
        load_npz(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="split must be"):
        load_cifar10(cifar_folder[0], "val")


def test_real_cifar_subset(shared_data):
    ds = load_cifar10(shared_data / "cifar10" / "test_first932.npz")
    assert ds.images.shape == (932, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.images.max() > 200 and set(np.unique(ds.labels)) == set(range(10))


def test_write_cifar10_batch_writes_the_official_layout(tmp_path):
    from jaxinterp.data import write_cifar10_batch

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 5)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    write_cifar10_batch(folder / "test_batch", images, labels, "testing batch")
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    reference = official_batch(images, labels)  # the channel-planar rows written in this file
    np.testing.assert_array_equal(raw[b"data"], reference[b"data"])
    assert raw[b"labels"] == reference[b"labels"] and raw[b"batch_label"] == b"testing batch"
    assert raw[b"data"].dtype == np.uint8 and len(raw[b"filenames"]) == 5
    back = load_cifar10(folder, "test")  # and the reader gets the images back
    np.testing.assert_array_equal(back.images, images)
    np.testing.assert_array_equal(back.labels, labels)
    with pytest.raises(ValueError, match=r"uint8 \[n, 32, 32, 3\].*got float64"):
        write_cifar10_batch(folder / "x", images / 255.0, labels)
    with pytest.raises(ValueError, match=r"got uint8 \(5, 3, 32, 32\)"):
        write_cifar10_batch(folder / "x", images.transpose(0, 3, 1, 2), labels)
    with pytest.raises(ValueError, match=r"labels must be integers \[n\] with n = 5"):
        write_cifar10_batch(folder / "x", images, labels[:4])


class _Payload:
    """Unpickles into a call of ``fn(*args)``: what a crafted batch file does."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_crafted_batch_cannot_run_code(tmp_path, protocol):
    import builtins
    import os

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "pwned"
    for payload, name in [(_Payload(os.system, f"touch {marker}"), "system"),
                          (_Payload(builtins.open, str(marker), "w"), "open")]:
        with open(folder / "test_batch", "wb") as f:  # hidden inside an otherwise valid batch
            pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": payload}, f,
                        protocol=protocol)
        with pytest.raises(ValueError, match=rf"not a CIFAR-10 batch: it holds a disallowed object "
                                             rf"\(\w+\.{name}\)"):
            load_cifar10(folder, "test")
        assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_batches_of_every_pickle_protocol_still_load(tmp_path, protocol):
    rng = np.random.default_rng(protocol)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 3)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    record = {**official_batch(images, labels), b"scalar": np.int64(7), b"empty": b"", "text": "a"}
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(record, f, protocol=protocol)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"c%d" % i for i in range(10)]}, f, protocol=protocol)
    ds = load_cifar10(folder, "test")
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.class_names[3] == "c3"
