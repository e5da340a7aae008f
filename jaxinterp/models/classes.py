"""The class lists model outputs index: ImageNet-1k (1,000), CIFAR-10, scikit-learn's digits.

A model class names its list in ``CLASSES``; :func:`jaxinterp.models.class_names` (by
architecture name) reads it. The ImageNet names ship as ``imagenet_classes.txt`` beside this
file (their provenance is in its header).
"""

from __future__ import annotations

import functools
from importlib import resources

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGITS = tuple(str(d) for d in range(10))


@functools.lru_cache(maxsize=1)
def imagenet() -> tuple[str, ...]:
    """The 1,000 ImageNet class names in class-index order (the sorted WordNet ids' order)."""
    text = resources.files("jaxinterp.models").joinpath("imagenet_classes.txt").read_text("utf-8")
    names = tuple(line for line in text.splitlines() if line and not line.startswith("#"))
    if len(names) != 1000:  # a damaged install: say so rather than mislabel every class
        raise RuntimeError(f"jaxinterp/models/imagenet_classes.txt holds {len(names)} names, not 1000; "
                           "reinstall jaxinterp")
    return names


def names(kind: str | None) -> tuple[str, ...] | None:
    """The class names of list ``kind`` ("imagenet", "cifar10", "digits"); None for None."""
    if kind is None:
        return None
    lists = {"imagenet": imagenet, "cifar10": lambda: CIFAR10, "digits": lambda: DIGITS}
    if kind not in lists:
        raise ValueError(f"unknown class list {kind!r}; known: {', '.join(sorted(lists))}")
    return lists[kind]()
