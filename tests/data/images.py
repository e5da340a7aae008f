"""Tiny image datasets written to disk for the data-source tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def tiny(n: int = 20, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images [n, size, size, 3] and labels [n] in 0..2, sorted by label (the
    order a class-per-folder layout reads them in)."""
    rng = np.random.default_rng(seed)
    labels = np.sort(rng.integers(0, 3, n))
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), labels


def write_folder(root: Path, images, labels, classes=("cat", "dog", "emu"), suffix: str = ".png") -> Path:
    """``root/<class>/<index>.png`` for each image (files sort in image order within a class)."""
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:04d}{suffix}")
    return root


def write_flat(root: Path, images, labels) -> tuple[Path, Path]:
    """``root/img_<i>.png`` and ``root/labels.csv`` (a header, then file,label rows in image order)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["file,label"]
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(root / f"img_{i}.png")
        rows.append(f"img_{i}.png,{label}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root, root / "labels.csv"
