"""``--data`` (any dataset jaxinterp reads), ``--labels`` and ``--split``, the same in every command."""

from __future__ import annotations

import argparse
from pathlib import Path

DATA_HELP = ("the images: a folder with one subfolder per class (ImageNet's layout; sorted folder names "
             "are the labels), a folder of images with --labels FILE.csv (file,label rows), an .npz with "
             "'images' [n, h, w, c] (uint8 0..255 or float 0..1) and 'labels' [n], CIFAR-10 batches "
             "(cifar-10-batches-py, its parent or cifar-10-python.tar.gz), an .npy of images (read "
             "memory-mapped; --labels FILE.npy) or an .array_record file of encoded images. Image files "
             "are resized and cropped as the model declares (ImageNet models: shorter side 256, centre "
             "224); arrays must already have the model's size")


def add_data_arguments(parser: argparse.ArgumentParser, help: str = DATA_HELP) -> None:
    parser.add_argument("--data", required=True, type=Path, help=help)
    parser.add_argument("--labels", type=Path, default=None,
                        help="labels of --data where it has none inside: a CSV of file,label rows (a flat "
                             "folder of images) or an .npy of [n] integers (.npy images, ArrayRecord) "
                             "(default: none)")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="CIFAR-10 batches: which split (default: test)")


def data_spec(args, *arches: str, limit: int | None = None):
    """The :class:`~jaxinterp.steps.DataSpec` of ``--data``/``--labels``/``--split``, with the
    preprocessing the models ``arches`` declare (they must agree)."""
    from jaxinterp import models, steps

    preprocess = {models.get(arch).PREPROCESS for arch in arches}
    if len(preprocess) > 1:
        raise ValueError(f"{' and '.join(arches)} bring images to their input differently "
                         f"({', '.join(map(str, preprocess))}); compare models that take the same inputs")
    return steps.data_spec(args.data, limit, args.labels, args.split,
                           preprocess.pop() if preprocess else None)
