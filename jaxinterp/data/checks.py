"""Checks on images as they arrive from a user, and conversion to [0, 1] float32."""

from __future__ import annotations

import numpy as np


def check_images(images, channels: int | None = None, name: str = "images") -> None:
    """``images`` must be [n, h, w, c] uint8 (0..255) or float in [0, 1], with ``channels`` channels."""
    shape = getattr(images, "shape", None)
    dtype = getattr(images, "dtype", None)
    if shape is None or dtype is None:
        raise ValueError(
            f"{name} must be an array [n, h, w, c], got {type(images).__name__}; "
            "wrap it with np.asarray(...)"
        )
    if len(shape) != 4:
        hint = (
            " add a batch axis (images[None]) for one image, or a channel axis"
            " (images[..., None]) for grayscale"
            if len(shape) == 3
            else ""
        )
        raise ValueError(
            f"{name} must have rank 4 [n, h, w, c] (NHWC), got rank {len(shape)} with shape "
            f"{tuple(shape)};{hint or ' reshape to NHWC'}"
        )
    if shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(shape)}); pass at least one image")
    if not (np.issubdtype(dtype, np.uint8) or np.issubdtype(dtype, np.floating)):
        raise ValueError(
            f"{name} must be uint8 (0..255) or float (0..1), got dtype {dtype}; "
            "convert with images.astype(np.uint8) or images.astype(np.float32) / 255"
        )
    if channels is None and shape[-1] > 4 and shape[1] <= 4:
        raise ValueError(
            f"{name} must be NHWC [n, h, w, c], got shape {tuple(shape)} with {shape[-1]} channels "
            f"in the last axis; the array looks NCHW: transpose with images.transpose(0, 2, 3, 1)"
        )
    if channels is not None and shape[-1] != channels:
        hint = (
            " the array looks NCHW: transpose with images.transpose(0, 2, 3, 1)"
            if shape[1] == channels
            else ""
        )
        raise ValueError(
            f"{name} must have {channels} channel(s) in the last axis (NHWC), got shape "
            f"{tuple(shape)} with {shape[-1]};{hint or ' convert the images to the model input'}"
        )


def check_unit_range(images, name: str = "images") -> None:
    """Float ``images`` must lie in [0, 1] (uint8 ones are 0..255 by type); finite.

    Reads every value, so call it on arrays in memory, not on a dataset streamed from disk.
    """
    dtype = getattr(images, "dtype", None)
    if dtype is None or not np.issubdtype(dtype, np.floating) or images.size == 0:
        return
    x = np.asarray(images)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite, got NaN/inf in {int((~np.isfinite(x)).sum())} "
                         "value(s); fix or drop those images")
    low, high = float(x.min()), float(x.max())
    if low < -1e-4 or high > 1 + 1e-4:
        hint = (
            "the values look like 0..255 pixels: divide by 255 (or store uint8)"
            if high > 1.5 and low >= 0
            else "they look normalised (mean/std) or in [-1, 1]: pass the unnormalised [0, 1] images"
        )
        raise ValueError(
            f"float {name} must lie in [0, 1], got values in [{low:.4g}, {high:.4g}]; {hint}"
        )


def _listed(values, shown: int = 5) -> str:
    return ", ".join(str(int(v)) for v in values[:shown]) + (", ..." if len(values) > shown else "")


def check_labels(labels, num_classes: int | None, name: str = "labels",
                 classes_of: str = "the model") -> None:
    """``labels`` [n] must be class indices 0..num_classes-1 (nothing to check if ``num_classes``
    is None). A label outside is never predicted, so it would silently count as wrong."""
    if labels is None or num_classes is None:
        return
    labels = np.asarray(labels)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        where = np.flatnonzero(bad)
        raise ValueError(
            f"{name} must be class indices 0..{num_classes - 1} ({classes_of} has {num_classes} "
            f"classes), got {where.size} label(s) outside that range: values "
            f"{_listed(np.unique(labels[bad]))} at image(s) {_listed(where)}; relabel them to "
            f"0..{num_classes - 1}, drop those images, or use a model with those classes"
        )


def as_class_indices(labels, n: int, name: str = "labels") -> np.ndarray:
    """``labels`` as int64 [n], checked: one integer class index per image, of any integer dtype.

    The one check of labels where they enter (files, arrays, sources). Float labels are refused,
    not cast: a cast would silently truncate 1.7 to 1.
    """
    values = np.asarray(labels)
    if values.shape == (n,) and np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64, copy=False)
    whole = (np.issubdtype(values.dtype, np.floating) and np.isfinite(values).all()
             and (values == np.round(values)).all())
    if values.shape != (n,):
        one_hot = values.ndim == 2 and len(values) == n
        fix = ("the rows look one-hot or scores: take labels.argmax(-1)" if one_hot
               else f"pass one class index per image, {n} in all")
    elif whole:
        fix = "they are whole numbers: cast them with labels.astype(np.int64)"
    else:
        fix = "pass integer class indices 0, 1, 2, ... (not scores, probabilities or names)"
    raise ValueError(f"{name} must be integers [n] with n = {n} images (one class index each), got "
                     f"{values.dtype} {values.shape}; {fix}")


def check_fits_model(images, labels, model, arch: str, name: str = "images") -> None:
    """Images [n, h, w, c] (and labels [n], or None) that ``model`` can run on as it was trained.

    Checks the channels (``IN_CHANNELS``), the spatial size (``INPUT_SIZE``, where the model
    declares one: a CNN with global pooling takes any size and would silently compute on
    64×64 images what it never saw) and the labels (``num_classes``: the width of its logits).
    ``images`` may be an array or just its shape.
    """
    shape = tuple(getattr(images, "shape", images))
    if shape[-1] != model.IN_CHANNELS:
        raise ValueError(
            f"{arch} takes {model.IN_CHANNELS}-channel images, got {shape[-1]} channels ({name} "
            f"{shape}); pass data for this model or the --arch it was made for"
        )
    size = model.INPUT_SIZE
    if size is not None and tuple(shape[1:3]) != (size, size):
        raise ValueError(
            f"{arch} was trained on {size}×{size} images, but {name} are {shape[1]}×{shape[2]}; "
            f"resize them to {size}×{size} first (e.g. jax.image.resize(images01, (n, {size}, "
            f"{size}, {shape[-1]}), 'linear')), or use a model made for {shape[1]}×{shape[2]} images"
        )
    check_labels(labels, getattr(model, "num_classes", None), f"labels of {name}", arch)


def to_unit_float(images) -> np.ndarray:
    """uint8 0..255 -> float32 0..1; float arrays are returned as float32 unchanged."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)
