"""Image checks at the user boundary: each refusal names the problem and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp.data import CLASS_NAMES, check_images, check_unit_range


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
