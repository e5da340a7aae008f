"""Datasets as streaming sources (image folders, CSV-labelled folders, .npz, CIFAR-10 batches,
memory-mapped .npy, ArrayRecord), scikit-learn digits, image checks and synthetic stimuli."""

from jaxinterp.data.checks import check_images, check_unit_range, to_unit_float
from jaxinterp.data.cifar10 import CLASS_NAMES, load_cifar10, write_cifar10_batch
from jaxinterp.data.decode import Preprocess, decode
from jaxinterp.data.digits import load_digits
from jaxinterp.data.folder import array_record, image_csv, image_folder
from jaxinterp.data.npz import ImageDataset, load_npz
from jaxinterp.data.open import data_fingerprint, data_kind, open_data
from jaxinterp.data.sources import ArrayData, EncodedImages

# synthetic stimuli (issue #13)
from jaxinterp.data import stimuli
from jaxinterp.data.stimuli import angle, curve, family, grating, high_low, line

__all__ = [
    "ArrayData",
    "CLASS_NAMES",
    "EncodedImages",
    "ImageDataset",
    "Preprocess",
    "array_record",
    "check_images",
    "check_unit_range",
    "data_fingerprint",
    "data_kind",
    "decode",
    "image_csv",
    "image_folder",
    "load_cifar10",
    "load_digits",
    "load_npz",
    "open_data",
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
