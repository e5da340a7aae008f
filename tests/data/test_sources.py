"""Datasets as sources: every kind gives the same pixels and labels, from any position and any
process's rows; the model's preprocessing equals torchvision's transforms; bad input is refused
with the file named (or, for an empty class folder, warned about)."""

from __future__ import annotations

import shutil

import jax
import numpy as np
import pytest
from PIL import Image

from jaxinterp import models, steps
from jaxinterp.capture import capture
from jaxinterp.data import ArrayData, Preprocess, data_kind, decode, image_csv, image_folder, open_data
from jaxinterp.data.cifar10 import write_cifar10_batch
from jaxinterp.stream.sources import IterableSource
from tests._refs import torchvision_or_skip
from tests.data.images import tiny, write_flat, write_folder


def _all(source, batch_size=7, **kw) -> np.ndarray:
    return np.concatenate(list(source.batches(batch_size, **kw)))


@pytest.fixture(scope="module")
def data():
    return tiny()


@pytest.fixture(scope="module")
def kinds(tmp_path_factory, data):
    """The same 20 images and labels as every kind of dataset."""
    images, labels = data
    root = tmp_path_factory.mktemp("kinds")
    write_folder(root / "folder", images, labels)
    flat, table = write_flat(root / "flat", images, labels)
    np.savez(root / "d.npz", images=images, labels=labels)
    np.save(root / "images.npy", images)
    np.save(root / "labels.npy", labels)
    cifar = root / "cifar-10-batches-py"
    cifar.mkdir()
    write_cifar10_batch(cifar / "test_batch", images, labels)
    from array_record.python.array_record_module import ArrayRecordWriter

    writer = ArrayRecordWriter(str(root / "d.array_record"), "group_size:1")
    for i in range(len(images)):
        writer.write((flat / f"img_{i}.png").read_bytes())
    writer.close()
    return {"folder": (root / "folder", None), "csv": (flat, table), "npz": (root / "d.npz", None),
            "npy": (root / "images.npy", root / "labels.npy"), "cifar10": (root, None),
            "arrayrecord": (root / "d.array_record", root / "labels.npy")}


@pytest.mark.parametrize("kind", ["folder", "csv", "npz", "npy", "cifar10", "arrayrecord"])
def test_every_kind_gives_the_same_pixels_and_labels(kinds, data, kind):
    images, labels = data
    path, label_file = kinds[kind]
    assert data_kind(path, label_file) == kind
    source = open_data(path, label_file)
    assert (source.num_images, source.image_shape) == (20, (32, 32, 3))
    np.testing.assert_array_equal(_all(source), images)
    np.testing.assert_array_equal(source.labels, labels)
    # resumes from any position; reads only rows lo:hi of each batch (one process's share)
    np.testing.assert_array_equal(_all(source, 6, start=9), images[9:])
    want = np.concatenate([images[i + 2:i + 5] for i in range(3, 20, 6)])
    np.testing.assert_array_equal(_all(source, 6, start=3, rows=(2, 5)), want)
    np.testing.assert_array_equal(_all(source.take(5)), images[:5])


def test_folder_constructors_with_one_thread_and_a_small_buffer(kinds, data):
    """image_folder / image_csv directly, with 1 decoding thread and a read-ahead of 4 images:
    the same images in the same order as the defaults (order never depends on thread timing)."""
    images, labels = data
    for source in (image_folder(kinds["folder"][0], threads=1, prefetch=4),
                   image_csv(*kinds["csv"], threads=1, prefetch=4)):
        assert (source.threads, source.prefetch) == (1, 4)
        np.testing.assert_array_equal(_all(source, 3), images)
        np.testing.assert_array_equal(source.labels, labels)


def test_decode_bytes_or_path_with_and_without_preprocessing(kinds, data):
    path = kinds["csv"][0] / "img_3.png"
    np.testing.assert_array_equal(decode(path, "img_3"), data[0][3])
    np.testing.assert_array_equal(decode(path.read_bytes(), "img_3"), data[0][3])
    assert decode(path, "img_3", Preprocess(resize=20, crop=16)).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="record 7 is not a readable image"):
        decode(b"\x89PNG broken", "record 7")


def test_iterable_sources_give_rows_too(data):
    images, _ = data
    chunks = [images[:3], images[3:11], images[11:]]
    want = np.concatenate([images[i + 4:i + 8] for i in range(0, 20, 8)])
    np.testing.assert_array_equal(_all(IterableSource(chunks), 8, rows=(4, 8)), want)


def test_class_names_from_folders_and_cifar_meta(kinds, tmp_path):
    assert open_data(kinds["folder"][0]).class_names == ("cat", "dog", "emu")
    assert open_data(kinds["csv"][0], kinds["csv"][1]).class_names is None  # a CSV names no classes
    assert open_data(kinds["cifar10"][0]).class_names[0] == "airplane"
    assert models.class_names("cifar_resnet20") == open_data(kinds["cifar10"][0]).class_names
    names = models.class_names("googlenet")
    assert len(names) == 1000 == len(set(names)) and names[0] == "tench" and names[-1] == "toilet tissue"
    assert models.class_names("resnet50") == names and models.class_names("small_cnn_rgb") is None


def test_imagenet_class_names_equal_torchvisions():
    torchvision_or_skip()
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    assert models.class_names("alexnet") == tuple(_IMAGENET_CATEGORIES)


def test_the_models_preprocessing_equals_torchvisions_transforms(tmp_path):
    """Resize(256) + CenterCrop(224) of torchvision on the PIL image, pixel for pixel, for
    portrait, landscape, square and small images, JPEG and PNG."""
    torchvision = torchvision_or_skip()
    from torchvision import transforms

    rng = np.random.default_rng(1)
    reference = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    preprocess = models.get("googlenet").PREPROCESS
    for i, (h, w) in enumerate([(300, 449), (403, 300), (256, 256), (97, 140), (224, 224)]):  # odd margins
        path = tmp_path / f"{i}.{'jpg' if i % 2 else 'png'}"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        mine = open_data(write_folder_of(tmp_path / f"f{i}", path), preprocess=preprocess)
        theirs = np.asarray(reference(Image.open(path).convert("RGB")))
        assert mine.image_shape == (224, 224, 3)
        np.testing.assert_array_equal(_all(mine)[0], theirs)
    assert torchvision.__version__


def write_folder_of(root, *files):
    (root / "only").mkdir(parents=True)
    for f in files:
        shutil.copy(f, root / "only" / f.name)
    return root


def test_folder_route_equals_npz_route_through_capture(kinds, data):
    """Same pixels either way: the PNG folder and the .npz give equal activations, image for image."""
    model = models.get("small_cnn_rgb")
    variables = models.init(model, jax.random.key(0))
    spec = {k: steps.data_spec(kinds[k][0]) for k in ("folder", "npz")}
    assert spec["folder"].kind == "folder" and spec["folder"].fingerprint != spec["npz"].fingerprint
    np.testing.assert_array_equal(steps.load_data(spec["folder"])[0], steps.load_data(spec["npz"])[0])
    def relu2(source):
        return capture(model, variables, source, ["relu2"], batch_size=8, progress=False)["relu2"]

    acts = {k: relu2(steps.open_source(s)) for k, s in spec.items()}
    np.testing.assert_array_equal(acts["folder"], acts["npz"])
    np.testing.assert_allclose(acts["npz"], relu2(data[0]), rtol=1e-6, atol=1e-6)


# ---- bad input -------------------------------------------------------------------------------

def test_a_corrupt_image_stops_the_pass_naming_the_file(tmp_path, data):
    images, labels = data
    root = write_folder(tmp_path / "f", images, labels, suffix=".jpg")
    victim = sorted((root / "dog").iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:200])  # truncated
    source = open_data(root)
    with pytest.raises(ValueError, match=rf"{victim.name} is not a readable image .*replace or remove"):
        _all(source)
    (root / "cat" / "0000.jpg").write_bytes(b"not an image at all")  # the first file: its header
    with pytest.raises(ValueError, match=r"0000\.jpg is not a readable image"):
        open_data(root)


def test_folders_without_images_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images: expected one subfolder per class"):
        open_data(tmp_path / "empty")
    (tmp_path / "classes" / "a").mkdir(parents=True)
    (tmp_path / "classes" / "b").mkdir()
    (tmp_path / "classes" / "b" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="2 class folders but no images in them"):
        open_data(tmp_path / "classes")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (8, 8)).save(flat / "x.png")
    with pytest.raises(ValueError, match="holds 1 images but no class subfolders; pass a CSV"):
        open_data(flat)


def test_an_empty_class_folder_keeps_its_index_and_is_warned_about(tmp_path, data):
    images, labels = data
    root = write_folder(tmp_path / "f", images, labels, classes=("a", "c", "d"))
    (root / "b").mkdir()  # sorts between a and c
    with pytest.warns(UserWarning, match=r"1 class folder\(s\) of .* hold no images \(b\); each keeps its"):
        source = open_data(root)
    assert source.class_names == ("a", "b", "c", "d")
    np.testing.assert_array_equal(source.labels, np.where(labels == 0, 0, labels + 1))


def test_mixed_sizes_are_resized_by_the_model_or_refused_naming_a_file_of_each(tmp_path):
    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "a" / "first.png")
    Image.new("RGB", (50, 64), (10, 200, 10)).save(root / "a" / "second.png")
    with pytest.raises(ValueError, match=r"second\.png is 64x50, .*first\.png is 30x40; .*resize them"):
        _all(open_data(root))
    resized = _all(open_data(root, preprocess=Preprocess(resize=36, crop=32)))
    assert resized.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(resized[1, 16, 16], [10, 200, 10])


def test_grayscale_and_cmyk_jpegs_become_rgb(tmp_path):
    root = tmp_path / "modes"
    (root / "a").mkdir(parents=True)
    Image.new("L", (16, 16), 90).save(root / "a" / "0gray.jpg")
    Image.new("RGB", (16, 16), (200, 120, 40)).convert("CMYK").save(root / "a" / "1cmyk.jpg")
    Image.new("RGBA", (16, 16), (5, 250, 128, 7)).save(root / "a" / "2rgba.png")
    got = _all(open_data(root)).astype(int)
    assert got.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(got[0], 90, atol=2)
    np.testing.assert_allclose(got[1], np.broadcast_to([200, 120, 40], (16, 16, 3)), atol=4)
    np.testing.assert_array_equal(got[2], np.broadcast_to([5, 250, 128], (16, 16, 3)))  # alpha dropped


def test_bad_csvs_labels_and_paths(tmp_path, data):
    images, labels = data
    root, table = write_flat(tmp_path / "flat", images[:3], labels[:3])
    table.write_text("img_0.png,1\nimg_1.png,cat\n")
    with pytest.raises(ValueError, match=r"labels\.csv line 2: the label must be an integer class index"):
        open_data(root, table)
    table.write_text("img_0.png,1\nimg_9.png,0\nsub/img_8.png,0\n")
    with pytest.raises(FileNotFoundError, match=r"2 file\(s\) listed in .*labels\.csv are not under"):
        open_data(root, table)
    with pytest.raises(ValueError, match=r"carries its own labels \(its 'labels' array\); leave out"):
        np.savez(tmp_path / "d.npz", images=images, labels=labels)
        open_data(tmp_path / "d.npz", table)
    np.save(tmp_path / "few.npy", labels[:5])
    np.save(tmp_path / "images.npy", images)
    with pytest.raises(ValueError, match=r"labels of images in images\.npy must be integers \[n\] with n = 20 images"):
        open_data(tmp_path / "images.npy", tmp_path / "few.npy")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"notes\.txt is not a dataset jaxinterp reads; pass a dataset"):
        open_data(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no data at"):
        open_data(tmp_path / "absent")


def test_arrays_are_taken_as_they_are(tmp_path, data):
    """Arrays are never resized: a model that resizes files still gets the array's own size, and
    the commands' size check refuses it with the fix."""
    images, labels = data
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    spec = steps.data_spec(tmp_path / "d.npz", preprocess=models.get("googlenet").PREPROCESS)
    assert spec.preprocess is None and steps.open_source(spec).image_shape == (32, 32, 3)
    with pytest.raises(ValueError, match=r"googlenet was trained on 224×224 images, but images in d\.npz"):
        steps.capture_task(steps.model_spec("googlenet", "random:0"), spec, "conv1")
    assert isinstance(steps.open_source(spec), ArrayData)


def test_a_folder_is_walked_once_per_start_and_warned_about_once(tmp_path, data, monkeypatch):
    """data_spec (kind, fingerprint) and open_source share one listing of the folder: on NFS a
    million-image folder costs one walk per start, not two; a changed folder is listed again."""
    import os
    import warnings

    from jaxinterp.data import fingerprint as fp

    monkeypatch.setenv("JAXINTERP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fp, "SETTLE_SECONDS", 0.0)  # as a folder that has lain on disk for a while
    images, labels = data
    root = write_folder(tmp_path / "f", images, labels, classes=("a", "c", "d"))
    (root / "b").mkdir()  # an empty class folder
    Image.fromarray(images[0]).save(root / "loose.png")  # an image outside every class folder
    walked, scanned = [], []
    walk, scandir = os.walk, os.scandir
    monkeypatch.setattr(os, "walk", lambda top, *a, **k: walked.append(os.path.basename(top))
                        or walk(top, *a, **k))
    monkeypatch.setattr(os, "scandir", lambda p=".": scanned.append(str(p)) or scandir(p))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = steps.data_spec(root)
        source = steps.open_source(spec)
        assert steps.data_spec(root) == spec
    assert sorted(walked) == ["a", "b", "c", "d"] and scanned.count(str(root)) == 1
    said = sorted(str(w.message).split("(s)")[0] for w in caught)
    assert said == ["1 class folder", "1 image file"], said  # each once
    assert source.num_images == len(images) and source.class_names == ("a", "b", "c", "d")
    new = root / "c" / "new.png"
    Image.fromarray(images[0]).save(new)
    stat = (root / "c").stat()
    os.utime(root / "c", ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))  # a time of its own, settled
    with warnings.catch_warnings(record=True):
        changed = steps.data_spec(root)
        assert changed != spec and steps.open_source(changed).num_images == len(images) + 1
    assert sorted(walked) == ["a", "a", "b", "b", "c", "c", "d", "d"]


def test_an_array_record_source_holds_no_name_per_record_and_names_bad_ones_as_before(tmp_path):
    """Names are formatted when an error needs one: 20,000 records cost no 20,000 strings (a
    list of names for ImageNet's 1.28M would hold 100 MB), and the errors read as they did."""
    import io
    import tracemalloc

    from array_record.python.array_record_module import ArrayRecordWriter

    def png(size):
        buf = io.BytesIO()
        Image.new("RGB", (size, size)).save(buf, "PNG")
        return buf.getvalue()

    n, small = 20_000, png(8)
    writer = ArrayRecordWriter(str(tmp_path / "d.array_record"), "group_size:1")
    for i in range(n):
        writer.write({3: b"not an image", 5: png(16)}.get(i, small))
    writer.close()
    open_data(tmp_path / "d.array_record")  # imports and first-use allocations out of the count
    tracemalloc.start()
    try:
        source = open_data(tmp_path / "d.array_record")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert source.num_images == n and held < 200_000, held  # 20,000 names would hold ~1.9 MB
    with pytest.raises(ValueError, match=r"^d\.array_record record 3 is not a readable image"):
        source.read(3)
    with pytest.raises(ValueError, match=r"d\.array_record record 5 is 16x16, d\.array_record record 0 is 8x8"):
        source.take(6).read(5)
