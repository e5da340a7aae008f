"""The ``jaxinterp featvis`` page, drawn from the saved ``featvis`` result only (computes nothing).

Writes into ``out``: ``featvis_<layer>.png/.svg`` (the grid: unit index and final activation
in dataset standard deviations), ``ratio_<layer>.png/.svg`` (final activation over the top
dataset activation, per unit), ``featvis_<layer>.npz`` (the images and numbers),
``units/`` (per unit: its visualisation, the diverse and negative ones, and receptive-field
crops of its most and least activating dataset images, plain and coloured by its map) and
``index.html``, where each unit is one card (no table wider than the page).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np

from jaxinterp import atomic
from jaxinterp.report.figures import heat_overlay, heat_span, minus, to_rgb01, write_tiles

CARDS_CSS = ("<style>.unit{border:1px solid var(--rule);border-radius:6px;padding:0.5em 0.9em 0.7em;"
             "margin:0 0 1em}.unit h3{margin:0.2em 0 0.4em}.unit .row{display:flex;flex-wrap:wrap;"
             "gap:0.6em 1.4em;align-items:flex-start}.unit figure{margin:0;display:table}.unit figcaption{"
             "display:table-caption;caption-side:bottom;font-size:0.8em;color:var(--muted);margin:0.2em 0 0}.unit img{image-rendering:pixelated;"
             "max-width:100%;height:auto;margin:0}.unit p{font-size:0.88em;margin:0.4em 0 0}</style>")


def grid_figure(arrays: dict, layer: str, method: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, units, z = arrays["images"], arrays["units"], arrays["z"]
    cols = min(8, len(units))
    rows = -(-len(units) // cols)
    # rows 0.25 in taller than the images: each title sits in the gap above its image, never on the
    # row above (tight_layout squeezed the gap to less than a title)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.75 * rows + 0.4), squeeze=False,
                             gridspec_kw={"hspace": 0.2, "wspace": 0.08})
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[: len(units)]):
        ax.imshow(to_rgb01(images[i]), interpolation="nearest")
        ax.set_title(minus(f"{'dir' if method != 'neurons' else 'ch'} {units[i]}: {z[i]:+.1f} SD"), fontsize=8,
                     pad=3)
    fig.suptitle(f"Feature visualisations of {layer} ({method}); title: index and final activation "
                 "in dataset SDs above the mean", fontsize=9)
    atomic.savefig(fig, path.with_suffix(".png"), dpi=110, bbox_inches="tight")
    atomic.savefig(fig, path.with_suffix(".svg"), bbox_inches="tight")
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


def _tile(path: Path, images: np.ndarray, columns: int | None = None, min_px: int = 64) -> str:
    """Write ``images`` [m, h, w, c] as one PNG of tiles at ``path``; returns its ``<img>`` at its
    own size (name relative to the page in ``units/``)."""
    width = write_tiles(path, images, columns, min_px)
    return f"<img src='units/{escape(path.name)}' width='{width}' alt=''>"


def _card(out: Path, arrays: dict, summary: dict, i: int, tag: str, word: str) -> str:
    """One unit: its visualisation, diverse and negative ones, and its dataset exemplars."""
    u = int(arrays["units"][i])
    units = out / "units"
    sd = lambda v: minus(f"{v:+.1f} SD")  # noqa: E731
    blocks = [f"<figure>{_tile(units / f'{tag}_{u}.png', arrays['images'][i:i + 1], min_px=96)}"
              f"<figcaption>maximises it: {sd(arrays['z'][i])}</figcaption></figure>"]
    if "diversity_images" in arrays:
        zs = ", ".join(sd(v) for v in arrays["diversity_z"][i])
        blocks.append(f"<figure>{_tile(units / f'{tag}_{u}_diverse.png', arrays['diversity_images'][i], columns=2)}"
                      f"<figcaption>{arrays['diversity_images'].shape[1]} diverse: {zs}</figcaption></figure>")
    if "negative_images" in arrays:
        blocks.append(f"<figure>{_tile(units / f'{tag}_{u}_negative.png', arrays['negative_images'][i:i + 1])}"
                      f"<figcaption>minimises it: {sd(arrays['negative_z'][i])}</figcaption></figure>")
    examples = []
    for side, what in (("top", "most activating"), ("bottom", "least activating")):
        acts = ", ".join(minus(f"{v:.2g}") for v in arrays[f"{side}_act"][i])
        img = _tile(units / f"{tag}_{u}_{side}.png", arrays[f"{side}_crops"][i], columns=4)
        span = ""
        if f"{side}_heat" in arrays:  # the same tiles, coloured by the unit's map
            heat = arrays[f"{side}_heat"][i]
            lo, hi = heat_span(heat, side)
            img += "<br>" + _tile(units / f"{tag}_{u}_{side}_heat.png",
                                  heat_overlay(arrays[f"{side}_crops"][i], heat, (lo, hi)), columns=4)
            span = minus(f"; map {lo:.2g} to {hi:.2g}")
        examples.append(f"<figure>{img}<figcaption>{what}: {acts}{span}</figcaption></figure>")
    num = lambda key: minus(f"{arrays[key][i]:.3g}")  # noqa: E731
    numbers = (f"its activation {num('vis_act')}; top dataset activation {num('data_max')} (ratio "
               f"{arrays['ratio'][i]:.2f}×); dataset mean {num('data_mean')}, SD {num('data_std')}")
    return (f"<div class='unit' id='{escape(tag)}-{u}'><h3>{word} {u}</h3><div class='row'>{''.join(blocks)}"
            f"{''.join(examples)}</div><p>{numbers}</p></div>")


def write(out: Path, arrays: dict, summary: dict, facts: dict) -> Path:
    """Draw every file of the page from ``arrays``/``summary`` of the ``featvis`` task."""
    from jaxinterp.report import html

    out = Path(out)
    (out / "units").mkdir(parents=True, exist_ok=True)
    layer, method = summary["layer"], summary["method"]
    tag = layer.replace(".", "_")
    atomic.savez(out / f"featvis_{tag}.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    grid_figure(arrays, layer, method, out / f"featvis_{tag}")
    ratio_figure(arrays, summary, layer, out / f"ratio_{tag}")
    word = "direction" if method != "neurons" else "unit"
    cards = "".join(_card(out, arrays, summary, i, tag, word) for i in range(len(arrays["units"])))
    extra = []
    if "diversity_images" in arrays:
        extra.append(f"{summary['diversity']} diverse images maximise the unit minus {summary['diversity_weight']:g}× "
                     f"Lucid's diversity term (the similarity of their Gram matrices; {summary['diversity_steps']} "
                     "steps)")
    if "negative_images" in arrays:
        extra.append(f"the negative image minimises the unit's spatial mean before the layer's ReLU "
                     f"({summary['negative_steps']} steps)")
    m = arrays["top_idx"].shape[1]
    explain = (f"Per unit: the image that maximises its spatial mean ({summary['steps']} steps)"
               + "".join(f"; {e}" for e in extra) + f". Then its {m} most activating dataset images (by "
               "spatial mean), cropped about the place where the unit is highest, and its "
               f"{m} least activating ones (lowest spatial mean before the layer's ReLU; for directions, "
               "lowest projection), cropped about where it is lowest; crops are "
               f"{html.crop_words(summary)}, grey outside the image, repeated to at least 64 px"
               + (". Under them, the same crops coloured by the unit's map (before the layer's ReLU for "
                  "channels, the projection for directions; each position drawn on the pixels nearest its "
                  "field's centre) divided by the unit's highest value on its most activating images (1 at the "
                  "centre of their brightest crop), brighter where higher (inferno, from black to yellow over "
                  "the range in the caption, 'map LOW to HIGH': 0 to 1 on the most activating crops, their "
                  "lowest value to 0 on the least), no colour outside the image" if "top_heat" in arrays else "")
               + ". Captions: activations in dataset standard deviations above the mean (SD), or the spatial means.")
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
        ("Each unit beside its dataset examples", CARDS_CSS + f"<p>{escape(explain)}</p>" + cards),
    ]
    return html.page(f"Feature visualisation: {layer}", sections, out / "index.html", facts=facts)
