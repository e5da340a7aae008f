"""``jaxinterp evaluate --arch NAME --params DIR --data FILE.npz``: top-1 accuracy as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "evaluate",
        help="top-1 accuracy of a model on an .npz of images and labels",
        description=(
            "Images: NHWC [n, h, w, c] under 'images', uint8 0..255 or float 0..1 (uint8 is "
            "scaled to [0, 1], then both are normalised with the model's MEAN/STD); labels: "
            "integers [n] under 'labels'. "
            'Prints {"accuracy": ..., "correct": ..., "n": ...}.'
        ),
    )
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. cifar_resnet20")
    parser.add_argument("--params", required=True, type=Path, help="directory from `jaxinterp convert`")
    parser.add_argument("--data", required=True, type=Path, help=".npz with 'images' and 'labels'")
    parser.add_argument("--batch-size", type=int, default=256)
    return parser


EXPECTED = ("an .npz archive written with np.savez(path, images=..., labels=...): 'images' "
            "[n, h, w, c] NHWC, uint8 0..255 or float 0..1; 'labels' integers [n]")


def load_npz(path: Path, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images [n, h, w, c] (uint8 0..255, or float32 in [0, 1]) and [n] labels from ``path``, checked.

    ``num_classes``: the labels must be class indices 0..num_classes-1 (the model's classes).
    Callers convert the images with :func:`jaxinterp.data.checks.to_unit_float`, which handles both.
    """
    from jaxinterp.data.checks import check_images, check_labels, check_unit_range

    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"--data must be a file, got the directory {path}; pass {EXPECTED}")
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}; pass {EXPECTED}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] != b"PK":  # every .npz is a zip archive
        kind = " (it is a single-array .npy file)" if magic[:4] == b"\x93NUM" else ""
        raise ValueError(f"{path} is not an .npz archive{kind}; --data expects {EXPECTED}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz archive ({type(err).__name__}); "
                         f"--data expects {EXPECTED}") from None
    with data:
        missing = [k for k in ("images", "labels") if k not in data.files]
        if missing:
            raise ValueError(
                f"{path} lacks {missing}: expected 'images' (uint8 or float [n, h, w, c]) and "
                f"'labels' ([n]), found {data.files}; save with np.savez(path, images=..., labels=...)"
            )
        try:
            images, labels = data["images"], data["labels"]
        except ValueError as err:  # object arrays need pickle: refused, without numpy's advice
            raise ValueError(f"{path} holds object (pickled) arrays, which are not loaded; store "
                             f"numeric arrays: {EXPECTED}") from err
    if images.ndim == 4 and images.shape[0] == 0:
        raise ValueError(f"{path} holds 0 images (images shape {images.shape}); an accuracy needs "
                         "at least one image and its label")
    check_images(images, name=f"images in {path.name}")
    check_unit_range(images, name=f"images in {path.name}")
    if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels in {path.name} must be integers [n] with n = {images.shape[0]} images, got "
            f"{labels.dtype} {labels.shape}; store one integer class per image"
        )
    check_labels(labels, num_classes, f"labels in {path.name}")
    if images.dtype != np.uint8:
        images = images.astype(np.float32)
    return images, labels


def run(args) -> int:
    import jax
    import jax.numpy as jnp

    from jaxinterp import models
    from jaxinterp.checkpoint import load_variables
    from jaxinterp.data.checks import check_fits_model

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    model = models.get(args.arch)
    variables, meta = load_variables(args.params)
    if meta.get("arch", args.arch) != args.arch:
        raise ValueError(
            f"{args.params} holds weights for {meta['arch']!r}, not {args.arch!r}; "
            f"pass --arch {meta['arch']}"
        )
    images, labels = load_npz(args.data)
    check_fits_model(images, labels, model, args.arch, f"images in {Path(args.data).name}")

    @jax.jit
    def predict(variables, batch):
        if batch.dtype == jnp.uint8:
            batch = batch.astype(jnp.float32) / 255.0
        x = model.normalize(batch.astype(jnp.float32))
        return jnp.argmax(model.apply(variables, x), axis=-1)

    correct = 0
    for start in range(0, len(images), args.batch_size):
        batch = images[start : start + args.batch_size]
        if len(batch) < args.batch_size and start > 0:  # pad the tail: one compiled shape
            pad = np.zeros((args.batch_size - len(batch), *batch.shape[1:]), batch.dtype)
            pred = np.asarray(predict(variables, np.concatenate([batch, pad])))[: len(batch)]
        else:
            pred = np.asarray(predict(variables, batch))
        correct += int((pred == labels[start : start + len(batch)]).sum())
    n = len(images)
    print(json.dumps({"accuracy": correct / n, "correct": correct, "n": n}))
    return 0
