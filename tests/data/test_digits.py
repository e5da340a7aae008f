import numpy as np

from jaxinterp.data import ImageDataset, load_digits


def test_digits_are_uint8_images_with_a_disjoint_split():
    all_ = load_digits()
    train, test = load_digits("train"), load_digits("test")
    assert isinstance(all_, ImageDataset) and all_.class_names == tuple(str(d) for d in range(10))
    np.testing.assert_array_equal(np.bincount(all_.labels), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    assert all_.images.shape == (1797, 8, 8, 1) and all_.images.dtype == np.uint8
    assert all_.images.max() == 255 and len(train.images) + len(test.images) == 1797
    # no test image is a training image (by identity of the rows drawn)
    rows = {r.tobytes() for r in train.images.reshape(len(train.images), -1)}
    overlap = sum(r.tobytes() in rows for r in test.images.reshape(len(test.images), -1))
    assert overlap < 5  # digits has a few exact duplicates, not more
