"""Parametrisations against a numpy re-implementation of Lucid's formulas (METHODS §6.1)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxinterp.featvis import param

LUCID_C = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float64)


def lucid_fft_image(spectrum: np.ndarray, h: int, w: int, decay_power: float = 1.0) -> np.ndarray:
    """Lucid's fft_image from its (2, b, ch, h, fw) variable, in numpy: -> [b, h, w, ch]."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + 2] if w % 2 == 1 else np.fft.fftfreq(w)[: w // 2 + 1]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power * np.sqrt(w * h)
    spec = scale * (spectrum[0] + 1j * spectrum[1])
    img = np.fft.irfft2(spec, s=(h, 2 * (spec.shape[-1] - 1)))  # TF irfft2d's fft_length
    return np.transpose(img, (0, 2, 3, 1))[:, :h, :w, :] / 4.0


def lucid_decorrelate(t: np.ndarray) -> np.ndarray:
    c = LUCID_C / np.max(np.linalg.norm(LUCID_C, axis=0))
    return (t.reshape(-1, 3) @ c.T).reshape(t.shape)


@pytest.mark.parametrize("h,w", [(32, 32), (17, 23), (8, 12)])
def test_fft_image_equals_lucid_formula(h, w):
    params, fn = param.fft_image(jax.random.key(1), (2, h, w, 3), sd=0.5)
    assert params.shape == (2, 2, 3, h, w // 2 + (2 if w % 2 else 1))
    ours = np.asarray(jax.jit(fn)(params))
    ref = lucid_fft_image(np.asarray(params, np.float64), h, w)
    assert ours.shape == (2, h, w, 3)
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)
    assert np.abs(ref).max() > 0.1  # a real test: the values are not all ~0


def test_init_sd_and_decorrelated_sigmoid_image_equal_lucid():
    params, fn = param.image(jax.random.key(0), 16, batch=3)
    assert abs(float(np.std(np.asarray(params))) - 0.01) < 0.002  # Lucid's sd = 0.01
    params = params * 50  # away from 0.5 everywhere, so the sigmoid matters
    ref = 1 / (1 + np.exp(-lucid_decorrelate(lucid_fft_image(np.asarray(params, np.float64), 16, 16))))
    np.testing.assert_allclose(np.asarray(fn(params)), ref, atol=1e-6)


def test_decorrelate_and_clip_path():
    t = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(param.decorrelate(t)), lucid_decorrelate(t), atol=1e-6)
    _, fn = param.image(jax.random.key(0), 4, batch=2, fft=False, sigmoid=False)
    ref = np.clip(lucid_decorrelate(t) + np.array([0.48, 0.46, 0.41]), 0, 1)
    np.testing.assert_allclose(np.asarray(fn(t)), ref, atol=1e-6)


def test_color_matrix_is_the_square_root_of_the_colour_covariance():
    rng = np.random.default_rng(0)
    mix = np.array([[0.2, 0.1, 0.0], [0.2, 0.0, -0.05], [0.2, -0.08, 0.03]])
    images = np.clip(0.5 + (rng.normal(size=(200, 6, 6, 3)) @ mix.T), 0, 1)
    m = np.asarray(param.color_matrix(images))
    cov = np.cov(images.reshape(-1, 3), rowvar=False)
    np.testing.assert_allclose(m @ m.T, cov, atol=1e-10)
    assert np.all(np.diff(np.linalg.norm(m, axis=0)) <= 0)  # columns by decreasing variance
    u8 = np.round(images * 255).astype(np.uint8)  # uint8 is read as /255, in chunks of any size
    np.testing.assert_allclose(param.color_matrix(u8, chunk=7), param.color_matrix(u8 / 255.0), atol=1e-12)
    _, fn = param.image(jax.random.key(0), 4, color=param.color_matrix(images))
    assert fn.color == param.color_matrix(images)


def test_color_matrix_of_a_streamed_folder_is_the_arrays(tmp_path):
    """A source (a folder of image files, decoded a chunk at a time) gives the matrix of its images
    in memory."""
    from jaxinterp.data import open_data
    from tests.data.images import tiny, write_folder

    images, labels = tiny(30, size=8)
    source = open_data(write_folder(tmp_path / "folder", images, labels))
    np.testing.assert_allclose(param.color_matrix(source, chunk=7), param.color_matrix(images), atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\[n, h, w, 3\]"):
        param.color_matrix(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="divide uint8"):
        param.color_matrix(np.full((1, 2, 2, 3), 255.0))
    with pytest.raises(ValueError, match="3x3"):
        param.image(jax.random.key(0), 4, color=np.eye(2))
