"""The ``jaxinterp featvis`` page, drawn from the saved ``featvis`` result only (computes nothing).

Writes into ``out``: ``featvis_<layer>.png/.svg`` (the grid: unit index and final activation
in dataset standard deviations), ``ratio_<layer>.png/.svg`` (final activation over the top
dataset activation, per unit), ``featvis_<layer>.npz`` (the images and numbers),
``units/`` (each visualisation and its top dataset exemplars) and ``index.html``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np

from jaxinterp import atomic


def _upscale(img: np.ndarray, factor: int) -> np.ndarray:
    img = np.clip(img, 0, 1)
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.kron(img, np.ones((factor, factor, 1)))


def grid_figure(arrays: dict, layer: str, method: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, units, z = arrays["images"], arrays["units"], arrays["z"]
    cols = min(8, len(units))
    rows = -(-len(units) // cols)
    height = 1.75 * rows + 0.6
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, height), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[: len(units)]):
        ax.imshow(np.clip(images[i].squeeze(-1) if images.shape[-1] == 1 else images[i], 0, 1),
                  cmap="gray" if images.shape[-1] == 1 else None, interpolation="nearest")
        ax.set_title(f"{'dir' if method != 'neurons' else 'ch'} {units[i]}: {z[i]:+.1f} SD", fontsize=8)
    fig.suptitle(f"Feature visualisations of {layer} ({method}); title: index and final activation "
                 "in dataset SDs above the mean", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / height))  # room for the suptitle
    atomic.savefig(fig, path.with_suffix(".png"), dpi=110)
    atomic.savefig(fig, path.with_suffix(".svg"))
    plt.close(fig)


def ratio_figure(arrays: dict, summary: dict, layer: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units, ratio = arrays["units"], arrays["ratio"]
    fig, ax = plt.subplots(figsize=(max(6, 0.13 * len(units) + 2), 3.2))
    ax.bar(np.arange(len(units)), ratio, color="#4477aa")
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="top dataset activation")
    median = summary["ratio_median"]
    ax.axhline(median, color="#cc6677", lw=1, label=f"median {median:.2f}x")
    step = max(1, len(units) // 16)
    ax.set_xticks(np.arange(0, len(units), step), [str(u) for u in units[::step]])
    ax.set_xlabel("unit index")
    ax.set_ylabel("final / top dataset activation (x)")
    ax.set_title(f"{layer}: each visualisation against its most activating dataset image", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic.savefig(fig, path.with_suffix(".png"), dpi=110)
    atomic.savefig(fig, path.with_suffix(".svg"))
    plt.close(fig)


def write(out: Path, arrays: dict, summary: dict, dataset01: np.ndarray, facts: dict) -> Path:
    """Draw every file of the page from ``arrays``/``summary`` of the ``featvis`` task."""
    from jaxinterp.report import html

    out = Path(out)
    (out / "units").mkdir(parents=True, exist_ok=True)
    layer, method = summary["layer"], summary["method"]
    tag = layer.replace(".", "_")
    atomic.savez(out / f"featvis_{tag}.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    grid_figure(arrays, layer, method, out / f"featvis_{tag}")
    ratio_figure(arrays, summary, layer, out / f"ratio_{tag}")
    rows = []
    src = escape(f"units/{tag}")  # the layer name reaches the page from the command line
    for i, u in enumerate(arrays["units"]):
        atomic.imsave(out / "units" / f"{tag}_{u}.png", _upscale(arrays["images"][i], 3))
        strip = np.concatenate([_upscale(dataset01[j], 3) for j in arrays["top_idx"][i]], axis=1)
        atomic.imsave(out / "units" / f"{tag}_{u}_top.png", strip)
        rows.append(
            f"<tr><td>{u}</td><td><img src='{src}_{u}.png'></td>"
            f"<td>{arrays['vis_act'][i]:.3g}</td><td>{arrays['data_max'][i]:.3g}</td>"
            f"<td>{arrays['ratio'][i]:.2f}x</td><td>{arrays['z'][i]:+.1f}</td>"
            f"<td><img src='{src}_{u}_top.png'><br><small>"
            + ", ".join(f"{v:.2g}" for v in arrays["top_act"][i]) + "</small></td></tr>")
    table = ("<table><thead><tr><th>unit</th><th>visualisation</th><th>its activation</th>"
             "<th>top dataset activation</th><th>ratio</th><th>SD above mean</th>"
             f"<th>top {arrays['top_idx'].shape[1]} dataset exemplars (activations)</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>")
    stats = html.table(["median ratio", "quartiles", "units above the top dataset image", "median SD"],
                       [[f"{summary['ratio_median']:.2f}x",
                         f"{summary['ratio_q25']:.2f}x - {summary['ratio_q75']:.2f}x",
                         f"{summary['above_top_fraction']:.0%}", f"{summary['z_median']:+.1f}"]])
    sections = [
        ("Summary", stats + "<p>Activation: the unit's spatial mean on the final (untransformed) image "
                            "and on each dataset image.</p>"),
        ("Visualisations", html.figure(f"featvis_{tag}.png",
                                       f"One optimised image per unit of {layer}, rendered together in one "
                                       f"batch ({summary['steps']} steps, {summary['transforms']} transforms, "
                                       f"{summary['color']} colour decorrelation); title: unit index and "
                                       "final activation in dataset standard deviations above the mean.")),
        ("Activation ratio", html.figure(f"ratio_{tag}.png",
                                         "Final activation of each visualisation divided by the largest "
                                         "activation of that unit over the dataset (dashed: 1x).")),
        ("Each unit beside its dataset exemplars", table),
    ]
    return html.page(f"Feature visualisation: {layer}", sections, out / "index.html", facts=facts)
