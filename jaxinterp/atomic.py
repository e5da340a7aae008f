"""Files written whole or not at all: a temporary file beside the target, then one ``os.replace``.

A reader (a browser, a second run, ``np.load``) sees the old file or the new one, never half of
one, and two runs writing the same file leave one whole copy::

    with atomic.replacing(out / "report.html") as tmp:   # tmp: out/.report.<random>.html
        tmp.write_text(page)
    atomic.savez(out / "arrays.npz", **arrays)
    atomic.write_json(out / "summary.json", summary)
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` with the same suffix (so writers that pick the format by
    suffix, as ``savefig`` and ``np.savez`` do, write the right one); it replaces ``path`` when the
    block ends without an error and is removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data: Any, default: Callable | None = None, indent: int = 1) -> Path:
    return write_text(path, json.dumps(data, indent=indent, default=default, allow_nan=True))


def savez(path: str | os.PathLike, **arrays) -> Path:
    """``np.savez(path, **arrays)``, atomically (``path`` should end in ``.npz``)."""
    import numpy as np

    with replacing(path) as tmp:
        np.savez(tmp, **arrays)
    return Path(path)


def savefig(fig, path: str | os.PathLike, **kwargs) -> Path:
    """``fig.savefig(path, **kwargs)``, atomically."""
    with replacing(path) as tmp:
        fig.savefig(tmp, **kwargs)
    return Path(path)


def imsave(path: str | os.PathLike, image, **kwargs) -> Path:
    """``matplotlib.pyplot.imsave(path, image, **kwargs)``, atomically."""
    import matplotlib.pyplot as plt

    with replacing(path) as tmp:
        plt.imsave(tmp, image, **kwargs)
    return Path(path)
