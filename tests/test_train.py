"""Training: it learns, and an interrupted run resumes to the uninterrupted result."""

import jax
import numpy as np
import pytest

from jaxinterp import models
from jaxinterp.data import load_digits
from jaxinterp.train import accuracy, train


class Crash(Exception):
    pass


def test_learns_digits_and_resumes_exactly(tmp_path):
    ds = load_digits("train")
    images, labels = ds.images[:400], ds.labels[:400]
    model = models.SmallCNN(widths=(8, 16, 16))
    kw = dict(epochs=4, batch_size=50, progress=False)
    full, history = train(model, jax.random.key(0), images, labels, checkpoint_dir=tmp_path / "a", **kw)
    assert history[-1] < history[0]
    assert accuracy(model, full, images, labels) > 0.5

    def crash_after_two(epoch, loss):
        if epoch == 2:
            raise Crash

    with pytest.raises(Crash):
        train(model, jax.random.key(0), images, labels, checkpoint_dir=tmp_path / "b",
              callback=crash_after_two, **kw)
    resumed, rest = train(model, jax.random.key(0), images, labels, checkpoint_dir=tmp_path / "b", **kw)
    assert len(rest) == 2  # only the two missing epochs ran
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), full, resumed
    )


def test_label_count_mismatch():
    ds = load_digits("test")
    with pytest.raises(ValueError, match="images but"):
        train(models.get("small_cnn"), jax.random.key(0), ds.images, ds.labels[:-1], epochs=1)
