"""Figures from saved results (matplotlib, Agg backend). Nothing here computes a score."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


def ii_boxplot(
    ii: Mapping[str, Mapping[str, np.ndarray]], path: str | Path, title: str = ""
) -> Path:
    """Box plot of II per metric, one box per direction set (the paper's Fig. 3).

    ``ii[metric][direction_set]`` is a [k] array of indices.
    """
    metrics = list(ii)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.6), squeeze=False)
    for i, (ax, metric) in enumerate(zip(axes[0], metrics)):
        sets = list(ii[metric])
        data = [np.asarray(ii[metric][s]) for s in sets]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(sets) + 1), sets)
        ax.set_title(f"{metric} similarity")
        if i == 0:
            ax.set_ylabel("II (higher = more interpretable)")
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def quantile_units(ii: np.ndarray, quantiles: Sequence[float] = QUANTILES) -> np.ndarray:
    """Indices of the units whose II is nearest each quantile of ``ii`` [k] -> [len(quantiles)]."""
    order = np.argsort(ii)
    pos = np.round(np.asarray(quantiles) * (len(ii) - 1)).astype(int)
    return order[pos]


def _show(ax, image: np.ndarray) -> None:
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def exemplar_grid(
    images: np.ndarray,
    exemplars: Mapping[str, np.ndarray],
    ii: Mapping[str, np.ndarray],
    path: str | Path,
    metric: str,
    quantiles: Sequence[float] = QUANTILES,
) -> Path:
    """Top-M exemplars of units at five II quantiles, one panel per direction set (Fig. 4).

    Args:
      images: [n, h, w, c] the image set the exemplars index into.
      exemplars: ``{set: [k, m] indices of each unit's top-M images}``.
      ii: ``{set: [k] II under ``metric``}``.
    """
    sets = list(exemplars)
    m = next(iter(exemplars.values())).shape[1]
    q = len(quantiles)
    cols = len(sets) * (m + 1) - 1  # one blank column between direction sets
    ratios = ([1.0] * m + [0.35]) * (len(sets) - 1) + [1.0] * m
    fig, axes = plt.subplots(
        q, cols, figsize=(0.75 * cols + 0.8, 0.8 * q + 0.6), squeeze=False,
        gridspec_kw={"width_ratios": ratios, "wspace": 0.05, "hspace": 0.15},
    )
    for ax in axes.flat:
        ax.axis("off")
    for s_i, name in enumerate(sets):
        units = quantile_units(np.asarray(ii[name]), quantiles)
        for r, (quant, unit) in enumerate(zip(quantiles, units)):
            for j in range(m):
                ax = axes[r, s_i * (m + 1) + j]
                ax.axis("on")
                _show(ax, images[exemplars[name][unit, j]])
                if j == 0:
                    ax.set_ylabel(f"q={quant:.2f} #{unit}\nII={ii[name][unit]:.3g}", fontsize=6)
                if r == 0 and j == m // 2:
                    ax.set_title(name, fontsize=9)
    fig.suptitle(f"Top-{m} exemplars at five quantiles of II ({metric} similarity)", fontsize=9)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
