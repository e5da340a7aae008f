"""One look for every report figure, and one way to save it: PNG (for the page) plus SVG (vector).

* :data:`RC`: matplotlib settings (sizes in points for a figure printed at its own size;
  SVG text kept as text, so it stays searchable and editable, and PDF fonts embedded as TrueType);
* :func:`styled`: a decorator that draws a whole figure function under :data:`RC`;
* :func:`new_figure`: ``plt.subplots`` under :data:`RC`;
* :func:`save`: write ``stem.png`` (at :data:`PNG_DPI`) and ``stem.svg``; close the figure. PDF is one
  ``formats=("png", "svg", "pdf")`` away; it is not the default because embedding TrueType
  subsets costs about a second per figure on the development machine.

Widths follow journal columns: :data:`SINGLE` (3.4 in) and :data:`DOUBLE` (7.0 in).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxinterp import atomic  # noqa: E402

PNG_DPI = 200
FORMATS = ("png", "svg")
SINGLE, DOUBLE = 3.4, 7.0
# direction sets keep one colour across every figure
SET_STYLE = {"neurons": {"color": "#4d4d4d", "marker": "s", "label": "neurons"},
             "kmeans": {"color": "#1f77b4", "marker": "o", "label": "K-means directions"}}

RC = {
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.7,
    "xtick.major.width": 0.7,
    "ytick.major.width": 0.7,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "svg.fonttype": "none",  # text stays <text>: searchable, and editable in a vector editor
    "pdf.fonttype": 42,
    "image.interpolation": "nearest",
    "figure.dpi": 100,
}


def styled(fn):
    """Run a figure-drawing function under :data:`RC` (text artists read the settings when made)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with plt.rc_context(RC):
            return fn(*args, **kwargs)

    return wrapper


def new_figure(nrows: int = 1, ncols: int = 1, **kw):
    """``plt.subplots(nrows, ncols, **kw)`` with :data:`RC` applied (``squeeze=False`` by default)."""
    kw.setdefault("squeeze", False)
    with plt.rc_context(RC):
        return plt.subplots(nrows, ncols, **kw)


def save(fig, stem: str | Path, formats=FORMATS) -> list[Path]:
    """Write ``fig`` to ``stem.<fmt>`` for each of ``formats`` and close it; returns the paths.

    PNG is rasterised at :data:`PNG_DPI`; SVG (and PDF) are vector (images inside stay raster).
    """
    stem = Path(stem)
    if stem.suffix in {f".{f}" for f in FORMATS}:
        stem = stem.with_suffix("")
    paths = []
    with plt.rc_context(RC):
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            atomic.savefig(fig, path, dpi=PNG_DPI if fmt == "png" else None,
                           metadata={"Date": None} if fmt in ("svg", "pdf") else None)
            paths.append(path)
    plt.close(fig)
    return paths
