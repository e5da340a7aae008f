"""Input checks shared by the universality measures: what was expected, what arrived, the fix."""

from __future__ import annotations

from typing import Mapping

import numpy as np


def check_rep(x, name: str = "x", min_images: int = 2) -> None:
    """``x`` must be a finite [n_images, n_features] array with at least ``min_images`` rows."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D representation [n_images, n_features], got shape {shape}; "
            "capture with position='mean' (or 'centre'), or flatten with x.reshape(len(x), -1)"
        )
    if shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {shape}); pass at least one unit")
    if shape[0] < min_images:
        raise ValueError(
            f"{name} covers {shape[0]} image(s) but this measure needs at least {min_images} "
            "(the unbiased HSIC needs n >= 4); pass more images"
        )


def check_finite(x, name: str = "x") -> None:
    finite = np.isfinite(np.asarray(x))
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(f"{name} contains {bad} NaN or inf value(s); drop those images before comparing")


def check_pair(x, y, names=("x", "y"), min_images: int = 2) -> None:
    """Two representations of the *same* images: both 2-D, the same number of rows."""
    check_rep(x, names[0], min_images)
    check_rep(y, names[1], min_images)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{names[0]} covers {x.shape[0]} images but {names[1]} covers {y.shape[0]}; both "
            "representations must be of the same images in the same order (capture both models on one array)"
        )


def check_layers(acts: Mapping, name: str, min_images: int = 2) -> int:
    """A non-empty ``{layer: [n, d]}`` of one model; returns n."""
    if not isinstance(acts, Mapping) or not acts:
        raise ValueError(
            f"{name} must be a non-empty dict {{layer name: [n_images, n_features] array}}, got "
            f"{type(acts).__name__}{'' if not isinstance(acts, Mapping) else ' (empty)'}; "
            "pass capture(model, variables, images, layers, position='mean')"
        )
    ns = {}
    for layer, x in acts.items():
        check_rep(x, f"{name}[{layer!r}]", min_images)
        ns[layer] = x.shape[0]
    if len(set(ns.values())) != 1:
        raise ValueError(f"the layers of {name} cover different numbers of images: {ns}; capture them together")
    return next(iter(ns.values()))


def check_same_images(n_a: int, n_b: int, names=("acts_a", "acts_b")) -> None:
    if n_a != n_b:
        raise ValueError(
            f"{names[0]} covers {n_a} images but {names[1]} covers {n_b}; the two models must see "
            "the same images in the same order (capture both on one image array)"
        )
