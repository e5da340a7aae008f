"""Datasets (CIFAR-10 batches and .npz, scikit-learn digits), image checks and synthetic stimuli."""

from jaxinterp.data.checks import check_images, check_unit_range, to_unit_float
from jaxinterp.data.cifar10 import (
    CLASS_NAMES,
    ImageDataset,
    load_cifar10,
    load_npz,
    write_cifar10_batch,
)
from jaxinterp.data.digits import load_digits

# synthetic stimuli (issue #13)
from jaxinterp.data import stimuli
from jaxinterp.data.stimuli import angle, curve, family, grating, high_low, line

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
    # synthetic stimuli (issue #13)
    "angle",
    "curve",
    "family",
    "grating",
    "high_low",
    "line",
    "stimuli",
]
