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
            "Images: uint8 [n, h, w, c] under 'images' (scaled to [0, 1], then normalised with "
            "the model's MEAN/STD); labels: integers [n] under 'labels'. "
            'Prints {"accuracy": ..., "correct": ..., "n": ...}.'
        ),
    )
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. cifar_resnet20")
    parser.add_argument("--params", required=True, type=Path, help="directory from `jaxinterp convert`")
    parser.add_argument("--data", required=True, type=Path, help=".npz with 'images' and 'labels'")
    parser.add_argument("--batch-size", type=int, default=256)
    return parser


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """[n, h, w, c] uint8 images and [n] labels from ``path``, checked."""
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    with np.load(path) as data:
        missing = [k for k in ("images", "labels") if k not in data.files]
        if missing:
            raise ValueError(
                f"{path} lacks {missing}: expected 'images' (uint8 [n, h, w, c]) and 'labels' "
                f"([n]), found {data.files}; save with np.savez(path, images=..., labels=...)"
            )
        images, labels = data["images"], data["labels"]
    if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"expected images uint8 [n, h, w, c] and labels [n], got images {images.dtype} "
            f"{images.shape} and labels {labels.shape}; store NHWC uint8 pixels in 0..255"
        )
    return images, labels


def run(args) -> int:
    import jax
    import jax.numpy as jnp

    from jaxinterp import models
    from jaxinterp.checkpoint import load_variables

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
    if images.shape[-1] != model.IN_CHANNELS:
        raise ValueError(
            f"{args.arch} takes {model.IN_CHANNELS}-channel images, got {images.shape[-1]} channels"
        )

    @jax.jit
    def predict(variables, batch):
        x = model.normalize(batch.astype(jnp.float32) / 255.0)
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
    print(json.dumps({"accuracy": correct / n if n else 0.0, "correct": correct, "n": n}))
    return 0
