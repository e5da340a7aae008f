"""Figures shared by the reports (matplotlib, Agg backend). Nothing here computes a score.

* :func:`ii_boxplot`: II per similarity, one box (with every unit as a dot) per direction set;
* :func:`exemplar_grid`: top-M exemplars of the units at quantiles of II, crisp and tightly packed;
* :func:`mosaic`: images side by side, upscaled by pixel repetition (no smoothing), white gutters;
* :func:`tiles`: images in rows of ``columns``, each at least ``min_px`` pixels (for HTML pages);
* :func:`heat_overlay`: crops blended with a colour map of their heat (activation maps), over
  :func:`heat_span`.

Each writes ``stem.png`` (200 dpi), and ``stem.svg`` (:func:`jaxinterp.report.style.save`)
and returns the PNG's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from jaxinterp import atomic
from jaxinterp.report.style import DOUBLE, SET_STYLE, new_figure, save, styled

QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
II_LABEL = "Interpretability Index (a.u.)"  # never a bare rotated "II": it reads as "="


def minus(text: str) -> str:
    """Typographic minus signs in a formatted number (matplotlib's own ticks use them too)."""
    return text.replace("-", "\u2212")


@styled
def ii_boxplot(
    ii: Mapping[str, Mapping[str, np.ndarray]], path: str | Path, title: str = "",
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Box plot of II per similarity, one box per direction set, every unit drawn as a dot (Fig. 3).

    ``ii[similarity][direction_set]`` is a [k] array of indices; ``labels`` renames the sets on
    the x axis (e.g. ``{"kmeans": "K-means"}``). The white diamond is the mean.
    """
    metrics = list(ii)
    width = min(DOUBLE, 0.6 + 1.1 * max(len(ii[m]) for m in metrics) * len(metrics) + 0.4)
    fig, axes = new_figure(1, len(metrics), figsize=(max(width, 3.0), 2.7))
    rng = np.random.default_rng(0)  # horizontal jitter of the dots only
    for i, (ax, metric) in enumerate(zip(axes[0], metrics)):
        sets = list(ii[metric])
        data = [np.asarray(ii[metric][s], float) for s in sets]
        ax.boxplot([d[np.isfinite(d)] for d in data], widths=0.55, showmeans=True, showfliers=False,
                   medianprops={"color": "k", "lw": 1.2},
                   meanprops={"marker": "D", "markerfacecolor": "w", "markeredgecolor": "k", "ms": 4},
                   boxprops={"lw": 0.8}, whiskerprops={"lw": 0.8}, capprops={"lw": 0.8})
        for j, (s, d) in enumerate(zip(sets, data)):
            colour = SET_STYLE.get(s, {}).get("color", f"C{j}")
            ax.scatter(j + 1 + rng.uniform(-0.16, 0.16, d.size), d, s=7, color=colour, alpha=0.65,
                       lw=0, zorder=3)
        names = [(labels or {}).get(s, SET_STYLE.get(s, {}).get("label", s)) for s in sets]
        ax.set_xticks(range(1, len(sets) + 1), [n.replace(" directions", "\ndirections") for n in names])
        ax.set_title(f"{metric} similarity")
        ax.set_xlabel("direction set")
        ax.set_ylabel(f"{II_LABEL}\nhigher = more interpretable" if i == 0 else II_LABEL)
        ax.grid(axis="y", alpha=0.3, lw=0.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)[0]


def quantile_units(ii: np.ndarray, quantiles: Sequence[float] = QUANTILES) -> np.ndarray:
    """Indices of the units whose II is nearest each quantile of ``ii`` [k] -> [len(quantiles)]."""
    ii = np.asarray(ii, float)
    order = np.argsort(np.where(np.isfinite(ii), ii, np.inf))
    pos = np.round(np.asarray(quantiles) * (np.isfinite(ii).sum() - 1)).astype(int)
    return order[np.clip(pos, 0, len(ii) - 1)]


def to_rgb01(images: np.ndarray) -> np.ndarray:
    """[..., h, w, c] uint8 or float images -> float RGB in [0, 1] (grey repeated to 3 channels)."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    images = np.clip(images.astype(np.float32), 0, 1)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images


def heat_span(heat: np.ndarray, side: str) -> tuple[float, float]:
    """The heat an overlay's colours span, for one unit's crops (heat: its map over its peak on
    its top exemplars; brighter is higher on both sides): ``"top"``, (0, 1), black where it is
    at or below 0, yellow at that peak; ``"bottom"``, (lowest, 0), black at its lowest value on
    those crops, yellow at 0 or above ((0, 1) where it is nowhere below 0)."""
    if side == "top":
        return 0.0, 1.0
    finite = np.asarray(heat)[np.isfinite(heat)]
    low = float(finite.min()) if finite.size else 0.0
    return (low, 0.0) if low < 0 else (0.0, 1.0)


def heat_overlay(crops: np.ndarray, heat: np.ndarray, span: tuple = (0.0, 1.0), alpha: float = 0.55,
                 cmap: str = "inferno") -> np.ndarray:
    """Crops [..., h, w, c] blended with ``cmap`` (perceptually uniform) of their heat
    [..., h, w]: ``(1 - alpha) · crop + alpha · cmap((heat - lo) / (hi - lo))``, heat clipped to
    ``span`` (lo, hi) (:func:`heat_span`); pixels whose heat is NaN (outside the image) are the
    crop's. Returns float RGB [..., h, w, 3] in [0, 1]."""
    import matplotlib

    rgb = to_rgb01(crops)
    heat = np.asarray(heat, np.float32)
    if heat.shape != rgb.shape[:-1]:
        raise ValueError(f"heat must be the crops' [..., h, w], got heat {heat.shape} for crops {rgb.shape}")
    lo, hi = span
    colour = matplotlib.colormaps[cmap](np.clip((np.nan_to_num(heat, nan=lo) - lo) / (hi - lo), 0, 1))[..., :3]
    blend = (1 - alpha) * rgb + alpha * colour.astype(np.float32)
    return np.where(np.isnan(heat)[..., None], rgb, blend)


def upscale_factor(size: int, target: int = 96) -> int:
    """The integer pixel repetition that brings ``size`` pixels to at least ``target``."""
    return max(1, -(-target // max(1, size)))


def mosaic(images: np.ndarray, gutter: int = 2, scale: int | None = None) -> np.ndarray:
    """[m, h, w, c] images -> one [h·s, m·w·s + (m-1)·gutter, 3] strip, each pixel repeated s×s
    (nearest neighbour: no smoothing in the PNG, nor in a viewer that scales the SVG) with white
    gutters between images."""
    rgb = to_rgb01(images)
    s = scale or upscale_factor(rgb.shape[1])
    big = rgb.repeat(s, axis=1).repeat(s, axis=2)
    m, h, w, _ = big.shape
    out = np.ones((h, m * w + (m - 1) * gutter, 3), np.float32)
    for j in range(m):  # m <= a few dozen tiles: display only
        out[:, j * (w + gutter): j * (w + gutter) + w] = big[j]
    return out


def tiles(images: np.ndarray, columns: int | None = None, min_px: int = 64, gutter: int = 2) -> np.ndarray:
    """[m, h, w, c] images -> one RGB image of rows of ``columns`` (default all in one row), each
    image repeated to at least ``min_px`` pixels (nearest neighbour), white gutters. Shown at its
    own size on a page (``image-rendering: pixelated``), a 32-px crop is 64 px wide."""
    images = np.asarray(images)
    m = len(images)
    columns = min(columns or m, m)
    scale = upscale_factor(images.shape[1], min_px)
    rows = [mosaic(images[i:i + columns], gutter, scale) for i in range(0, m, columns)]
    width = rows[0].shape[1]
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows]
    gap = np.ones((gutter, width, 3), np.float32)
    return np.concatenate([part for r in rows for part in (r, gap)][:-1])


def save_png(path: str | Path, rgb: np.ndarray) -> int:
    """``rgb`` [h, w, 3] in [0, 1] as an 8-bit RGB PNG (no alpha: a third smaller than
    matplotlib's RGBA), written atomically; returns its width in pixels."""
    from PIL import Image

    data = np.round(np.clip(np.asarray(rgb, np.float32), 0, 1) * 255).astype(np.uint8)
    with atomic.replacing(path) as tmp:
        Image.fromarray(data).save(tmp, format="PNG")
    return data.shape[1]


def write_tiles(path: str | Path, images: np.ndarray, columns: int | None = None, min_px: int = 64) -> int:
    """:func:`tiles` of ``images`` saved by :func:`save_png`; returns the PNG's width."""
    return save_png(path, tiles(images, columns, min_px))


@styled
def exemplar_grid(
    images: np.ndarray,
    exemplars: Mapping[str, np.ndarray],
    ii: Mapping[str, np.ndarray],
    path: str | Path,
    metric: str,
    quantiles: Sequence[float] = QUANTILES,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Top-M exemplars of the units at quantiles of II, one column per direction set (Fig. 4).

    Args:
      images: [n, h, w, c] the image set the exemplars index into (uint8, or float in [0, 1]).
      exemplars: ``{set: [k, m] indices of each unit's top-M images, most activating first}``.
      ii: ``{set: [k] II under ``metric``}``.
      labels: display names of the sets.

    Rows are II quantiles (top: the lowest II); each strip is labelled with its unit and II.
    The layout is computed in inches, so the page holds images, not white space.
    """
    sets = list(exemplars)
    m = int(next(iter(exemplars.values())).shape[1])
    h, w = np.asarray(images).shape[1:3]
    strip_aspect = (m * w + (m - 1) * 2 / upscale_factor(h)) / h
    left, right, top, gap_x, label_h, gap_y = 0.62, 0.05, 0.32, 0.18, 0.17, 0.06
    fig_w = max(DOUBLE, left + right + len(sets) * 1.25 * m + (len(sets) - 1) * gap_x) \
        if len(sets) > 2 else DOUBLE
    ax_w = (fig_w - left - right - (len(sets) - 1) * gap_x) / len(sets)
    ax_h = ax_w / strip_aspect
    fig_h = top + len(quantiles) * (label_h + ax_h + gap_y)
    fig, _ = new_figure(1, 1, figsize=(fig_w, fig_h))
    fig.axes[0].remove()
    for s_i, name in enumerate(sets):
        vals = np.asarray(ii[name], float)
        units = quantile_units(vals, quantiles)
        x0 = left + s_i * (ax_w + gap_x)
        fig.text((x0 + ax_w / 2) / fig_w, 1 - 0.1 / fig_h,
                 (labels or {}).get(name, SET_STYLE.get(name, {}).get("label", name)),
                 ha="center", va="top", fontsize=9, fontweight="bold")
        for r, (quant, unit) in enumerate(zip(quantiles, units)):
            y_top = top + r * (label_h + ax_h + gap_y) + label_h
            ax = fig.add_axes([x0 / fig_w, 1 - (y_top + ax_h) / fig_h, ax_w / fig_w, ax_h / fig_h])
            ax.imshow(mosaic(np.asarray(images)[np.asarray(exemplars[name][unit])]),
                      interpolation="nearest", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            ax.set_title(minus(f"unit {int(unit)} · II = {vals[unit]:.3f}"), fontsize=7, loc="left",
                         pad=2)
            if s_i == 0:
                fig.text(0.02 / fig_w, 1 - (y_top + ax_h / 2) / fig_h,
                         f"II quantile\n{quant:.2f}", ha="left", va="center", fontsize=7.5)
    return save(fig, path)[0]
