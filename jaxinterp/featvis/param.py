"""Image parametrisations: ``(params, image_fn)`` with ``image_fn(params) -> [b, h, w, c]`` in [0, 1].

Lucid's default (METHODS §6.1) is :func:`image`: an FFT spectrum with 1/f scaling and
÷4, colour decorrelation by the square root of ImageNet's colour covariance, then a
sigmoid::

    params, image_fn = param.image(key, 32, batch=64)            # Lucid's defaults
    params, image_fn = param.image(key, 32, batch=64, color=param.color_matrix(cifar01))

:func:`for_model` is the parametrisation the ``featvis`` and ``circuits`` commands use, with
the colour matrix chosen by :func:`color_for` (ImageNet's for ImageNet models, the data's
otherwise)::

    params, image_fn = param.for_model(key, model, batch=64, images01=cifar01)

Every ``image_fn`` is a frozen dataclass: equal settings compare equal, so
:func:`jaxinterp.featvis.render` compiles once per setting, not once per call.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

#: Lucid's ``color_correlation_svd_sqrt`` (ImageNet, RGB in [0, 1]); columns are colour axes.
IMAGENET_COLOR = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))
#: Lucid's ``color_mean``, added only without the sigmoid.
IMAGENET_COLOR_MEAN = (0.48, 0.46, 0.41)


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    """[h, w//2 + 1 (+1 if w is odd)] spatial frequency magnitudes of a real 2-D FFT (Lucid's)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + (2 if w % 2 else 1)]
    return np.sqrt(fx * fx + fy * fy)


def color_matrix(images01, chunk: int = 1024) -> tuple[tuple[float, ...], ...]:
    """The square root of a dataset's colour covariance, Lucid's way (``U·sqrt(S)`` of its SVD).

    Args:
      images01: [n, h, w, 3] images in [0, 1], or uint8 0..255 (e.g. CIFAR-10 for a CIFAR
        model): an array, a ``np.memmap`` or a stream source with ``batches`` (e.g.
        :func:`jaxinterp.steps.open_source`: a folder of image files), read ``chunk`` images at
        a time (sums in float64), so no copy of the dataset is made.

    Returns:
      a 3x3 matrix (tuple of rows) whose columns are the principal colour axes scaled by
      their standard deviations; signs fixed so each column's largest entry is positive.
    """
    if hasattr(images01, "batches"):  # decoded a chunk at a time
        shape, chunks = (images01.num_images, *images01.image_shape), images01.batches(chunk)
    else:
        shape = getattr(images01, "shape", np.shape(images01))
        chunks = (images01[i:i + chunk] for i in range(0, shape[0], chunk)) if len(shape) == 4 else ()
    if len(shape) != 4 or shape[-1] != 3 or shape[0] == 0:
        raise ValueError(f"color_matrix needs [n, h, w, 3] images in [0, 1], got shape {tuple(shape)}")
    total, outer, count, shift = np.zeros(3), np.zeros((3, 3)), 0, None
    for rows in chunks:
        rows = np.asarray(rows)
        x = rows.reshape(-1, 3).astype(np.float64) * (1.0 / 255.0 if rows.dtype == np.uint8 else 1.0)
        if x.max() > 1.0 + 1e-6 or x.min() < -1e-6:
            raise ValueError(f"color_matrix needs images in [0, 1], got values in [{x.min():.3g}, "
                             f"{x.max():.3g}]; divide uint8 images by 255")
        shift = x[0] if shift is None else shift  # sums about one pixel: no cancellation in float64
        x = x - shift
        total += x.sum(0)
        outer += x.T @ x
        count += len(x)
    mean = total / count
    cov = (outer - count * np.outer(mean, mean)) / max(count - 1, 1)
    u, s, _ = np.linalg.svd(cov)
    m = u * np.sqrt(s)[None, :]
    signs = np.sign(m[np.argmax(np.abs(m), axis=0), np.arange(3)])
    m = m * signs[None, :]
    return tuple(tuple(float(v) for v in row) for row in m)


def decorrelate(t: jax.Array, color=IMAGENET_COLOR) -> jax.Array:
    """[..., 3] decorrelated colours -> RGB: ``t @ (C / max column norm)ᵀ`` (Lucid's ``_linear_decorelate_color``)."""
    c = np.asarray(color, np.float32)
    c = c / np.max(np.linalg.norm(c, axis=0))
    return jnp.matmul(t, jnp.asarray(c.T), precision="highest")


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """Lucid's ``fft_image``: params [2, b, c, h, w//2+1(+1)] -> [b, h, w, c] (unbounded).

    scale = sqrt(w·h) / max(f, 1/max(w, h))^decay_power; image = irfft2(scale·(re + i·im)),
    cropped to (h, w), ÷ 4.
    """

    h: int
    w: int
    decay_power: float = 1.0

    def scale(self) -> np.ndarray:
        freqs = rfft2d_freqs(self.h, self.w)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(self.w, self.h)) ** self.decay_power
        return (scale * np.sqrt(self.w * self.h)).astype(np.float32)

    def __call__(self, params: jax.Array) -> jax.Array:
        spectrum = jax.lax.complex(params[0], params[1])
        scale = jnp.asarray(self.scale(), spectrum.dtype)  # [h, w//2+1], real
        spectrum = spectrum * jnp.broadcast_to(scale, spectrum.shape)
        width = 2 * (spectrum.shape[-1] - 1)  # w, or w + 1 for odd w (cropped below)
        image = jnp.fft.irfft2(spectrum, s=(self.h, width))  # [b, c, h, width]
        return jnp.transpose(image, (0, 2, 3, 1))[:, : self.h, : self.w, :] / 4.0


@dataclasses.dataclass(frozen=True)
class Pixels:
    """The naive parametrisation: params [b, h, w, c] are the image (unbounded)."""

    def __call__(self, params: jax.Array) -> jax.Array:
        return params


@dataclasses.dataclass(frozen=True)
class ToRGB:
    """Lucid's ``to_valid_rgb`` after a spatial parametrisation: [b, h, w, c] -> [b, h, w, c] in [0, 1].

    decorrelate: multiply 3-channel colours by ``color`` (normalised by its largest column norm);
    sigmoid: squash with a sigmoid (Lucid's default); otherwise add ``mean`` (when decorrelating)
    and clip to [0, 1].
    """

    spatial: object
    decorrelate: bool = True
    sigmoid: bool = True
    color: tuple = IMAGENET_COLOR
    mean: tuple = IMAGENET_COLOR_MEAN

    def __call__(self, params: jax.Array) -> jax.Array:
        t = self.spatial(params)
        if self.decorrelate:
            t = decorrelate(t, self.color)
            if not self.sigmoid:
                t = t + jnp.broadcast_to(jnp.asarray(self.mean, t.dtype), t.shape)
        return jax.nn.sigmoid(t) if self.sigmoid else jnp.clip(t, 0.0, 1.0)


def fft_image(key: jax.Array, shape, sd: float = 0.01, decay_power: float = 1.0):
    """``(params [2, b, c, h, fw] ~ N(0, sd²), Spectrum)`` for an image of ``shape`` = (b, h, w, c)."""
    b, h, w, c = shape
    fw = rfft2d_freqs(h, w).shape[1]
    return sd * jax.random.normal(key, (2, b, c, h, fw), jnp.float32), Spectrum(h, w, decay_power)


def pixel_image(key: jax.Array, shape, sd: float = 0.01):
    """``(params [b, h, w, c] ~ N(0, sd²), Pixels())``."""
    return sd * jax.random.normal(key, tuple(shape), jnp.float32), Pixels()


def image(key: jax.Array, w: int, h: int | None = None, batch: int = 1, sd: float = 0.01,
          fft: bool = True, decorrelate: bool = True, sigmoid: bool = True, color=IMAGENET_COLOR,
          channels: int = 3):
    """Lucid's ``param.image``: ``(params, image_fn)`` giving [batch, h, w, channels] in [0, 1].

    Args:
      key: PRNG key of the initial noise.
      w, h: width and height (h defaults to w).
      batch: images optimised together (one per unit when rendering many units).
      sd: standard deviation of the initial parameters (Lucid: 0.01).
      fft: spectrum parametrisation (Lucid's default) or pixels.
      decorrelate: colour decorrelation with ``color`` (3 channels only).
      sigmoid: squash to [0, 1] with a sigmoid (Lucid) or clip.
      color: 3x3 colour matrix: :data:`IMAGENET_COLOR`, or :func:`color_matrix` of a dataset.
      channels: 3 (RGB) or another count (e.g. 1 for greyscale models; no decorrelation).
    """
    h = h or w
    if min(w, h, batch, channels) < 1:
        raise ValueError(f"image needs positive w, h, batch and channels, got w={w}, h={h}, "
                         f"batch={batch}, channels={channels}")
    c = np.asarray(color, np.float64)
    if decorrelate and channels == 3 and c.shape != (3, 3):
        raise ValueError(f"color must be a 3x3 matrix, got shape {c.shape}; use param.color_matrix(images)")
    shape = (batch, h, w, channels)
    params, spatial = fft_image(key, shape, sd) if fft else pixel_image(key, shape, sd)
    color = tuple(tuple(float(v) for v in row) for row in c) if c.shape == (3, 3) else IMAGENET_COLOR
    return params, ToRGB(spatial, decorrelate and channels == 3, sigmoid, color)


def color_name_for(model) -> str:
    """``"imagenet"`` for a model of ImageNet's classes (``CLASSES == "imagenet"``: torchvision's
    AlexNet, VGG, ResNets, GoogLeNet, whatever their base class), else ``"data"``: which colour
    matrix :func:`color_for` gives ``model``. (A CIFAR-headed ResNet is trained on CIFAR, not
    ImageNet, so its colours are its data's.)"""
    return "imagenet" if getattr(model, "CLASSES", None) == "imagenet" else "data"


def color_for(model, images01=None, name: str | None = None):
    """The colour matrix for rendering ``model`` (``name``: ``"imagenet"`` or ``"data"``, default
    :func:`color_name_for`): Lucid's :data:`IMAGENET_COLOR`, or the square root of the colour
    covariance of ``images01`` (:func:`color_matrix`; the data the model was made for, e.g.
    CIFAR-10 for a CIFAR ResNet). Greyscale models need none: :data:`IMAGENET_COLOR` is returned
    and unused."""
    name = name or color_name_for(model)
    if name not in ("imagenet", "data"):
        raise ValueError(f"colour matrix must be 'imagenet' or 'data', got {name!r}")
    if name == "imagenet" or getattr(model, "IN_CHANNELS", 3) != 3:
        return IMAGENET_COLOR
    if images01 is None:
        raise ValueError(f"{type(model).__name__} is not an ImageNet model: its colour matrix is its data's; "
                         "pass images01 (e.g. its test images), or name='imagenet' for Lucid's matrix")
    return color_matrix(images01)


def for_model(key: jax.Array, model, batch: int = 1, images01=None, size: int | None = None,
              color: str | None = None, **options):
    """:func:`image` for ``model`` with the commands' defaults: its input side (``size``; default
    ``model.INPUT_SIZE``, 128 px without one), its channels, and :func:`color_for`'s colour
    matrix (``images01`` is needed for a model that is not an ImageNet model). ``options`` go to
    :func:`image` (``fft``, ``sd``, ``sigmoid``...)."""
    from jaxinterp.featvis.transforms import side_for

    side = side_for(model, size)
    return image(key, side, batch=batch, color=color_for(model, images01, color),
                 channels=model.IN_CHANNELS, **options)
