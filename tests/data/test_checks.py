"""Image checks at the user boundary: each refusal names the problem and the fix."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaxinterp.data import (CLASS_NAMES, ArrayData, EncodedImages, check_images, check_unit_range,
                            load_npz, open_data, write_cifar10_batch)
from jaxinterp.data.checks import as_class_indices


def test_check_images_refuses_with_the_fix():
    check_images(np.zeros((2, 8, 8, 3), np.uint8), channels=3)  # NHWC uint8: fine
    with pytest.raises(ValueError, match=r"looks NCHW: transpose with images.transpose\(0, 2, 3, 1\)"):
        check_images(np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"rank 4 .* add a batch axis \(images\[None\]\)"):
        check_images(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="must be uint8 .* got dtype int64"):
        check_images(np.zeros((2, 8, 8, 3), np.int64))
    with pytest.raises(ValueError, match=r"must have 1 channel\(s\)"):
        check_images(np.zeros((2, 8, 8, 3), np.uint8), channels=1)
    with pytest.raises(ValueError, match="must be an array"):
        check_images([[1, 2]])


def test_check_unit_range_refuses_0_to_255_floats_and_nan():
    check_unit_range(np.full((1, 2, 2, 3), 255, np.uint8))  # uint8 is 0..255 by type
    check_unit_range(np.linspace(0, 1, 12, dtype=np.float32).reshape(1, 2, 2, 3))
    with pytest.raises(ValueError, match="255"):
        check_unit_range(np.full((1, 2, 2, 3), 200.0, np.float32))
    with pytest.raises(ValueError, match="must be finite"):
        check_unit_range(np.full((1, 2, 2, 3), np.nan, np.float32))


def test_cifar10_class_names_in_the_batches_meta_order():
    assert CLASS_NAMES == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                           "truck")


def test_labels_are_class_indices_cast_to_int64_or_refused_with_the_fix():
    got = as_class_indices(np.array([2, 0, 1], np.int16), 3)
    assert got.dtype == np.int64 and got.tolist() == [2, 0, 1]
    refusals = [
        (np.array([1.7, 0.2, 2.0]), r"got float64 \(3,\); pass integer class indices 0, 1, 2, \.\.\. \(not scores"),
        (np.array([1.0, 0.0, 2.0]), r"got float64 \(3,\); they are whole numbers: cast them with labels\.astype"),
        (np.eye(3), r"got float64 \(3, 3\); the rows look one-hot or scores: take labels\.argmax\(-1\)"),
        (np.array([0, 1]), r"got int64 \(2,\); pass one class index per image, 3 in all"),
        (np.array(["a", "b", "c"]), r"got <U1 \(3,\); pass integer class indices"),
    ]
    for labels, fix in refusals:
        with pytest.raises(ValueError, match=r"^labels must be integers \[n\] with n = 3 images \(one class index "
                                             r"each\), " + fix):
            as_class_indices(labels, 3)


def test_every_door_for_labels_refuses_float_labels_alike(tmp_path):
    """Float labels are never truncated (1.7 -> 1): arrays, .npz, .npy, CIFAR batches and encoded
    images all refuse them with the same message."""
    images = np.zeros((3, 32, 32, 3), np.uint8)
    labels = np.array([1.7, 0.0, 2.0])
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    files = [str(tmp_path / "x.png")] * 3
    doors = {
        "labels of images": lambda: ArrayData(images, labels),
        "labels in d.npz": lambda: load_npz(tmp_path / "d.npz"),
        "labels of images in images.npy": lambda: open_data(tmp_path / "images.npy", tmp_path / "labels.npy"),
        "labels": lambda: write_cifar10_batch(tmp_path / "batch", images, labels),
        "labels of files": lambda: EncodedImages(files, files.__getitem__, labels, what="files"),
    }
    for name, door in doors.items():
        with pytest.raises(ValueError, match=rf"^{name} must be integers \[n\] with n = 3 images \(one class "
                                             r"index each\), got float64 \(3,\); pass integer class indices"):
            door()
