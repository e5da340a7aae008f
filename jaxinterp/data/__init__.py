"""Datasets and image checks."""

from jaxinterp.data.checks import check_images, to_unit_float

__all__ = ["check_images", "to_unit_float"]
