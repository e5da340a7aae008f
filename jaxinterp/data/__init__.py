"""Datasets (CIFAR-10 batches and .npz, scikit-learn digits) and image checks."""

from jaxinterp.data.checks import check_images, check_unit_range, to_unit_float
from jaxinterp.data.cifar10 import (
    CLASS_NAMES,
    ImageDataset,
    load_cifar10,
    load_npz,
    write_cifar10_batch,
)
from jaxinterp.data.digits import load_digits

__all__ = [
    "CLASS_NAMES",
    "ImageDataset",
    "check_images",
    "check_unit_range",
    "load_cifar10",
    "load_digits",
    "load_npz",
    "to_unit_float",
    "write_cifar10_batch",
]
