"""The ``jaxinterp circuits`` pages, drawn from saved ``circuits`` results only (computes nothing).

:func:`write` makes, under ``out``:

* ``index.html``: the layers, each with its units;
* ``<layer>.html``: the layer page: every chosen unit in one table, the families found by
  clustering the synthetic orientation tuning curves with their joint tuning, and the two
  equivariance tests of METHODS §6.6 against their permutation nulls;
* ``units/<layer>_<unit>.html``: one page per unit with the seven arguments of Zoom In (§6.7)
  side by side: feature visualisation, dataset examples, synthetic examples, rotation tuning,
  weights in (beside the upstream units' visualisations), weights out, the clean-room note;
* ``figures/``: every figure as PNG (200 dpi) and SVG.

The only arithmetic here is for display (colour limits, sorting, a mean over grating phase).
"""

from __future__ import annotations

import html as _html
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from jaxinterp import atomic
from jaxinterp.report.figures import minus, to_rgb01, write_tiles
from jaxinterp.report.html import callout, crop_words, display_width, figure, page, png_size, table
from jaxinterp.report.style import DOUBLE, new_figure, save, styled

CLEAN_ROOM = ("Clean-room reimplementation (the seventh argument) is done as a test, not per unit: "
              "tests/circuits/test_clean_room.py hand-builds a network with a family of rotated "
              "Gabor/curve filters and an equivariantly wired second layer, and checks that these same "
              "tools recover it (tuning curves give the built orientations within 5°, expanded weights "
              "equal the built kernels where the network is linear, the equivariance score is high for "
              "the built family and low for shuffled weights). A hand-written replacement for this unit "
              "is not attempted.")
SD = "activation (dataset SD)"
GRID_CSS = ("<style>.args{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:0.6em 1.6em}"
            ".args figure{margin:0.3em 0}.args h3{margin:0.6em 0 0.2em}.args>div{min-width:0}"
            "figure.tiles img{image-rendering:pixelated;margin:0}figure.tiles figcaption{margin:0.3em 0 0}"
            "</style>")


def _target(s: dict, i: int) -> str:
    """A downstream unit's name: its class for a classifier ("class i" when the names are not
    known), else ``layer:i``."""
    names = s.get("class_names")
    if s.get("classifier"):
        return names[i] if names and i < len(names) else f"class {i}"
    return f"{s['downstream']}:{i}"


def _esc(text) -> str:
    """Layer names reach the pages from the command line: escaped wherever they meet HTML."""
    return _html.escape(str(text))


def _tag(layer: str) -> str:
    return layer.replace(".", "_")


def _img(ax, image, title=None):
    ax.imshow(to_rgb01(image), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_visible(False)
    if title:
        ax.set_title(title, fontsize=7, pad=2)


def _diverging(ax, w, lim=None, title=None):
    lim = lim or float(np.max(np.abs(w))) or 1.0
    im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(minus(title), fontsize=7, pad=2)
    return im


# ---------------------------------------------------------------- unit figures


@styled
def featvis_figure(image, z, unit, layer, steps, path):
    rgb = to_rgb01(image)
    atomic.imsave(Path(path).with_name(Path(path).name + "_thumb.png"), rgb.repeat(3, 0).repeat(3, 1))
    fig, axes = new_figure(1, 1, figsize=(1.9, 2.1))
    _img(axes[0, 0], image, minus(f"{layer}:{unit} · {z:+.1f} SD"))
    return save(fig, path)[0]


@styled
def examples_figure(a, j, unit, path):
    """The pre-ReLU histogram of unit j (row j of the arrays), log counts, with the exponential of
    its fitted scale over the positive tail."""
    fig, axes = new_figure(1, 1, figsize=(DOUBLE * 0.62, 2.4))
    p = a["pre"]
    counts, edges = p["counts"][j], p["edges"][j]
    ax = axes[0, 0]
    centres = 0.5 * (edges[1:] + edges[:-1])
    ax.bar(centres, np.maximum(counts, 0.5), width=np.diff(edges), color="#7f7f7f", log=True, lw=0)
    ax.axvline(0, color="k", lw=0.7)
    ax.axvline(p["mean"][j], color="#1f77b4", lw=1, ls="--", label=minus(f"mean {p['mean'][j]:.3g}"))
    scale = p["tail_mean"][j]
    if np.isfinite(scale) and scale > 0:  # exponential with the fitted scale over the positive bins
        pos = centres > 0
        n_pos = counts[pos].sum()
        ax.plot(centres[pos], n_pos * np.diff(edges)[pos] / scale * np.exp(-centres[pos] / scale), color="#d62728",
                lw=1, label=minus(f"exponential fit, scale {scale:.3g}"))
    ax.set_xlabel("pre-ReLU activation (all positions, all images)")
    ax.set_ylabel("count (log)")
    ax.set_title(minus(f"fires (> 0) in {100 * p['fraction_positive'][j]:.1f}% of positions · "
                       f"99th percentile {p['tail_quantile'][j]:.3g}"), fontsize=7, loc="left")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return save(fig, path)[0]


def tiles_figure(images, path, columns: int | None = None, min_px: int = 64) -> Path:
    """``images`` [m, h, w, c] as one PNG of tiles (:func:`jaxinterp.report.figures.tiles`), shown
    on the page at its own size: every tile at least ``min_px`` CSS pixels, nearest neighbour."""
    path = Path(str(path) + ".png")
    write_tiles(path, images, columns, min_px)
    return path


@styled
def synthetic_figure(stim, j, path):
    """Responses to curves (orientation × radius), angles, lines and gratings, in dataset SD."""
    fig, axes = new_figure(2, 2, figsize=(DOUBLE * 0.62, 4.4))
    c = stim["curve"]
    r = c["responses"][..., j]                                          # [O, R]

    def heat(ax, values, x, y, xlabel, ylabel, title):
        lim2 = max(float(np.max(np.abs(values))), 1e-6)
        im = ax.imshow(values.T, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim2, vmax=lim2,
                       extent=(x[0], x[-1] + (x[1] - x[0] if len(x) > 1 else 1), -0.5, len(y) - 0.5),
                       interpolation="nearest")
        ax.set_yticks(range(len(y)), [f"{v:g}" for v in y])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=7.5)
        cb = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
        cb.set_label("SD", fontsize=7)

    heat(axes[0, 0], r, c["orientation"], c["radius"], "orientation (°)", "radius (px)", "curves")
    a = stim["angle"]
    heat(axes[0, 1], a["responses"][..., j], a["orientation"], a["opening"], "orientation (°)", "opening (°)",
         "angles (two lines)")
    ln = stim["line"]
    axes[1, 0].plot(ln["orientation"], ln["responses"][..., j], color="k")
    axes[1, 0].axhline(0, color="#999", lw=0.5)
    axes[1, 0].set_xlabel("orientation (°)")
    axes[1, 0].set_ylabel(SD)
    axes[1, 0].set_title("lines", fontsize=7.5)
    g = stim["grating"]
    heat(axes[1, 1], g["responses"][..., j].mean(axis=2), g["orientation"], g["frequency"], "orientation (°)",
         "frequency (cycles/px)", "gratings (mean over 4 phases)")
    fig.tight_layout()
    return save(fig, path)[0]


@styled
def rotation_figure(rot, j, synth_curve, synth_angles, path):
    """Polar plots: the unit's own exemplars rotated (relative), and synthetic curves (absolute).

    The radius is the response above the curve's minimum (a radius cannot be negative), from 0;
    the rings are labelled with the response itself, at the angle where the curve is lowest so no
    label sits on it."""
    fig, axes = new_figure(1, 2, figsize=(DOUBLE * 0.62, 2.7), subplot_kw={"projection": "polar"})
    for ax, angles, curve, title in (
            (axes[0, 0], rot["angles"], rot["curves"][:, j], "own top exemplars rotated\n(0° = as in the dataset)"),
            (axes[0, 1], synth_angles, synth_curve, "synthetic curves, max over radius\n(0° = pointing right)")):
        t = np.deg2rad(np.append(angles, angles[0]))
        vals = np.append(curve, curve[0]).astype(float)
        base = float(np.min(vals))
        span = float(np.max(vals)) - base or 1.0
        ax.plot(t, vals - base, color="k", lw=1)
        ax.fill(t, vals - base, color="#1f77b4", alpha=0.2)
        ax.set_ylim(0, 1.08 * span)
        rings = np.linspace(0, span, 3)[1:]
        ax.set_yticks(rings, [minus(f"{r + base:.2g}") for r in rings], fontsize=6)
        low = float(np.rad2deg(t[int(np.argmin(vals))]))
        ax.set_rlabel_position(low)   # where the curve is lowest: the labels sit outside it
        for label in ax.get_yticklabels():
            label.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})
        ax.set_title(title, fontsize=7.5)
        ax.set_xticks(np.deg2rad([0, 90, 180, 270]), ["0°", "90°", "180°", "270°"])
    fig.text(0.5, 0.01, f"rings: {SD} (the centre is each curve's minimum)", ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save(fig, path)[0]


def _thumbs_row(axes, idx, images, image_units, names):
    """The top row: each connected unit's visualisation (blank when it was not rendered), titled."""
    where = {int(u): i for i, u in enumerate(image_units)}
    for col, i in enumerate(idx):
        if int(i) in where:
            _img(axes[0, col], images[where[int(i)]], names[col])
        else:
            axes[0, col].axis("off")
            axes[0, col].set_title(names[col], fontsize=7, pad=2)


@styled
def weights_in_figure(w, idx, val, up_images, up_units, upstream, path):
    """Top-k upstream units: visualisation above, expanded-weight map (k × k) below."""
    k = len(idx)
    fig, axes = new_figure(2, k, figsize=(min(DOUBLE, 1.05 * k + 0.4), 2.5), gridspec_kw={"hspace": 0.35})
    lim = float(np.max(np.abs(w[..., idx]))) or 1.0
    _thumbs_row(axes, idx, up_images, up_units, [f"{upstream}:{int(i)}" for i in idx])
    for col, (i, v) in enumerate(zip(idx, val)):
        im = _diverging(axes[1, col], w[..., int(i)], lim, f"{v:+.2g}")
    cb = fig.colorbar(im, ax=axes[1, :].tolist(), fraction=0.04, pad=0.02)
    cb.set_label("weight (red: excites, blue: inhibits)", fontsize=6.5)
    return save(fig, path)[0]


@styled
def weights_out_figure(w, idx, val, names, images, image_units, spatial, path):
    """Top-k downstream targets: their visualisations above (titled ``names``: units, or classes),
    below their weight maps (spatial targets) or one bar each (summed expanded weight)."""
    k = len(idx)
    fig, axes = new_figure(2, k, figsize=(min(DOUBLE, 1.05 * k + 0.4), 2.5 if spatial else 3.0),
                           gridspec_kw={"hspace": 0.35})
    _thumbs_row(axes, idx, images, image_units, names)
    if spatial:
        lim = float(np.max(np.abs(w[idx]))) or 1.0
        for col, (i, v) in enumerate(zip(idx, val)):
            im = _diverging(axes[1, col], w[int(i)], lim, f"{v:+.2g}")
        cb = fig.colorbar(im, ax=axes[1, :].tolist(), fraction=0.04, pad=0.02)
        cb.set_label("weight (red: excites, blue: inhibits)", fontsize=6.5)
    else:
        gs = axes[1, 0].get_gridspec()
        for ax in axes[1, :]:
            ax.remove()
        ax = fig.add_subplot(gs[1, :])
        total = w.sum(axis=(1, 2))[np.asarray(idx, int)]
        ax.bar(np.arange(k), total, color=["#d62728" if t > 0 else "#1f77b4" for t in total], width=0.6)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlim(-0.5, k - 0.5)
        ax.set_xticks(np.arange(k), names, fontsize=7)
        ax.set_ylabel("summed expanded\nweight", fontsize=7)
    return save(fig, path)[0]


# ---------------------------------------------------------------- layer figures


@styled
def families_figure(lay, units, path):
    curves, angles, labels = lay["curves"], lay["angles"], lay["families"]
    order = np.lexsort((lay["preferred"], labels))
    fig, axes = new_figure(1, 2, figsize=(DOUBLE, 3.0), gridspec_kw={"width_ratios": [1.2, 1]})
    ax = axes[0, 0]
    lim = float(np.nanmax(np.abs(curves))) or 1.0
    im = ax.imshow(curves[order], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                   extent=(angles[0], angles[-1] + angles[1] - angles[0], len(order) - 0.5, -0.5))
    bounds = np.nonzero(np.diff(labels[order]))[0]
    for b in bounds:
        ax.axhline(b + 0.5, color="k", lw=0.8)
    ax.set_xlabel("curve orientation (°)")
    ax.set_ylabel("unit (by family, then preferred °)")
    step = max(1, len(order) // 16)
    ax.set_yticks(np.arange(0, len(order), step), [str(int(u)) for u in order[::step]])
    ax.set_title("every unit's curve tuning (max over radius)", fontsize=7.5)
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02).set_label("SD", fontsize=7)
    ax = axes[0, 1]
    a = len(angles)
    rel = (np.arange(a) - a // 2) * (angles[1] - angles[0])
    for f, joint in enumerate(lay["joint"]):
        n = int(np.sum(labels == f))
        if n:
            ax.plot(rel, joint, label=f"family {f} ({n} units)", color=f"C{f}")
    ax.axhline(0, color="#999", lw=0.5)
    ax.set_xlabel("orientation relative to each unit's peak (°)")
    ax.set_ylabel(f"mean {SD}")
    ax.set_title("joint tuning: peaks aligned, averaged per family", fontsize=7.5)
    ax.set_ylim(top=ax.get_ylim()[1] + 0.35 * (ax.get_ylim()[1] - ax.get_ylim()[0]))  # legend room
    ax.legend(loc="upper left", ncol=2)
    fig.tight_layout()
    return save(fig, path)[0]


@styled
def equivariance_figure(lay, eq, path):
    fig, axes = new_figure(1, 3, figsize=(DOUBLE, 2.5))
    ax = axes[0, 0]
    rel = lay["relative"].reshape(-1)
    w = lay["conn_in"].reshape(-1)
    ax.scatter(rel, w, s=3, color="#7f7f7f", alpha=0.5, lw=0)
    width = float(lay["centres"][1] - lay["centres"][0]) if len(lay["centres"]) > 1 else 15.0
    ax.step(np.append(lay["centres"] - width / 2, 360), np.append(lay["g"], lay["g"][-1]), where="post", color="k",
            lw=1.2, label="binned fit g")
    ax.set_xlabel("θ_down − φ_up (°)")
    ax.set_ylabel("summed expanded weight")
    ax.set_title(minus(f"binned fit, R² = {eq['r2']:.3f}"), fontsize=7.5)
    ax.legend()
    ax = axes[0, 1]
    ax.hist(lay["null_r2"], bins=20, color="#bbbbbb")
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.axvline(eq["r2"], color="#d62728", lw=1.2, label="observed")
    ax.set_xlabel("R² with shuffled weights")
    ax.set_ylabel("permutations")
    ax.set_title(minus(f"null: mean {eq['r2_null_mean']:.3f}, p = {eq['r2_p']:.3f}"), fontsize=7.5)
    ax.legend()
    ax = axes[0, 2]
    ax.hist(lay["rwc_correlations"], bins=30, color="#7f7f7f")
    ax.axvline(eq["rotated_correlation"], color="#d62728", lw=1.2, label="mean")
    ax.axvline(eq["rotated_correlation_null"], color="k", ls="--", lw=1, label="shuffled orientations")
    ax.set_xlabel("correlation of rotated weight maps")
    ax.set_ylabel("pairs")
    ax.set_title(minus(f"rotated weights: mean r = {eq['rotated_correlation']:.3f}"), fontsize=7.5)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.5)  # room for the legend above the bars
    ax.legend(loc="upper left")
    fig.tight_layout()
    return save(fig, path)[0]


# ---------------------------------------------------------------- pages


def _fig(path: Path, out_dir: Path, caption: str, label: str) -> str:
    import os

    rel = Path(os.path.relpath(path, out_dir)).as_posix()
    return figure(rel, caption, label, formats=("svg",), width=display_width(path))


def _tiles(path: Path, out_dir: Path, caption: str, scale: float = 1.0) -> str:
    """A PNG of :func:`tiles_figure` at its own size (1 image pixel per CSS pixel) times ``scale``,
    captioned."""
    import os

    rel = Path(os.path.relpath(path, out_dir)).as_posix()
    return (f"<figure class='tiles'><img src='{_esc(rel)}' width='{int(png_size(path)[0] * scale)}' alt=''>"
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def unit_page(out: Path, a: dict, s: dict, j: int, facts: dict) -> Path:
    layer, unit = s["layer"], int(a["units"][j])
    tag = f"{_tag(layer)}_{unit}"
    figs = out / "figures"
    units_dir = out / "units"
    fv = a["featvis"]
    paths = {
        "featvis": featvis_figure(fv["images"][j], float(fv["z"][j]), unit, layer, s["featvis_steps"],
                                  figs / f"{tag}_featvis"),
        "examples": examples_figure(a, j, unit, figs / f"{tag}_examples"),
        "top": tiles_figure(a["examples"]["top_crops"][j], figs / f"{tag}_top", columns=4),
        "bottom": tiles_figure(a["examples"]["bottom_crops"][j], figs / f"{tag}_bottom", columns=4),
        "quilt": tiles_figure(a["examples"]["quilt_crops"][j], figs / f"{tag}_quilt", columns=6),
        "synthetic": synthetic_figure(a["stimuli"], j, figs / f"{tag}_synthetic"),
        "rotation": rotation_figure(a["rotation"], j, a["layer"]["curves"][unit], a["layer"]["angles"],
                                    figs / f"{tag}_rotation"),
        "in": weights_in_figure(a["weights_in"]["w"][j], a["weights_in"]["idx"][j], a["weights_in"]["val"][j],
                                a["featvis_up"]["images"], a["featvis_up"]["units"], s["upstream"],
                                figs / f"{tag}_weights_in"),
        "out": weights_out_figure(a["weights_out"]["w"][j], a["weights_out"]["idx"][j], a["weights_out"]["val"][j],
                                  [_target(s, int(i)) for i in a["weights_out"]["idx"][j]],
                                  a["featvis_down"]["images"], a["featvis_down"]["units"],
                                  bool(s["weights"]["downstream_spatial"]), figs / f"{tag}_weights_out"),
    }
    if "diversity_images" in fv:
        paths["diverse"] = tiles_figure(fv["diversity_images"][j], figs / f"{tag}_featvis_diverse")
    if "negative_images" in fv:
        paths["negative"] = tiles_figure(fv["negative_images"][j:j + 1], figs / f"{tag}_featvis_negative")
    # a 224-px model's diverse and negative images at most 128 CSS px a tile: one row, one size
    vis_scale = min(1.0, 128 / fv["images"].shape[1])
    rot, lay, pre = a["rotation"], a["layer"], a["pre"]
    rf = s["rf"]
    st = a["stimuli"]
    best = {k: float(np.max(st[k]["responses"][..., j])) for k in ("curve", "line", "angle", "grating")}
    ci = np.unravel_index(np.argmax(st["curve"]["responses"][..., j]), st["curve"]["responses"].shape[:2])
    fig = lambda key, cap, lab: _fig(paths[key], units_dir, cap, lab)  # noqa: E731
    args = [
        ("1. Feature visualisation", fig("featvis", (
            f"Image optimised to maximise the unit's spatial mean ({s['featvis_steps']} steps, Lucid's "
            f"parametrisation); its activation is {fv['z'][j]:+.1f} SD above the dataset mean, "
            f"{fv['ratio'][j]:.2f}× the top dataset image's."), "Fig. 1")
            + "".join(_tiles(paths[key], units_dir, text, vis_scale) for key, text in (
                ("diverse", f"Diversity: {len(fv['diversity_z'][j]) if 'diversity_z' in fv else 0} images "
                            f"maximising the unit minus {s.get('diversity_weight') or 0:g}× Lucid's diversity "
                            f"term ({s.get('diversity_steps')} steps): "
                            + ", ".join(minus(f"{v:+.1f}") for v in fv.get("diversity_z", [[]])[j]) + " SD."),
                ("negative", f"Negative: minimising the unit before its ReLU ({s.get('negative_steps')} "
                             "steps): " + minus(f"{fv['negative_z'][j]:+.1f}" if "negative_z" in fv else "")
                             + " SD.")) if key in paths)),
        ("2. Dataset examples", "".join(_tiles(paths[key], units_dir, text) for key, text in (
            ("top", f"Most activating of {s['images']} images, cropped about each one's best position "
                    f"({crop_words(s)}; grey: outside the image): "
                    + ", ".join(minus(f"{v:.2g}") for v in a["top_value"][j][:len(a['examples']['top_crops'][j])])
                    + "."),
            ("bottom", "Least activating: the images whose lowest pre-ReLU value (over positions) is lowest, "
                       "cropped there: " + ", ".join(minus(f"{v:.2g}") for v in a["examples"]["bottom_value"][j])
                       + "."),
            ("quilt", "A quilt sampled evenly over the quantiles of each image's maximum activation (low → "
                      "high): " + ", ".join(minus(f"{v:.2g}") for v in a["examples"]["quilt_value"][j]) + ".")))
            + fig("examples", (
                "The pre-ReLU distribution "
                + ("(the input of the layer's last ReLU)" if s.get("pre_is_relu_input") else
                   "(the layer does not end in a ReLU: its output)")
                + " over every position of every image, log counts, with the exponential of the fitted scale "
                  "over the positive tail."), "Fig. 2")),
        ("3. Synthetic examples", fig("synthetic", (
            f"Response at the centre position to synthetic stimuli ({s['stimuli']['size']} px, strokes "
            f"{s['stimuli']['stroke_length']:.0f} px long, black on white), in standard deviations of the "
            "dataset's centre activation. Red: above the dataset mean. Best curve: "
            f"{best['curve']:+.1f} SD at orientation {st['curve']['orientation'][ci[0]]:g}°, radius "
            f"{st['curve']['radius'][ci[1]]:g} px; best line {best['line']:+.1f}, angle "
            f"{best['angle']:+.1f}, grating {best['grating']:+.1f} SD."), "Fig. 3")),
        ("4. Rotation tuning", fig("rotation", (
            f"Left: the unit's {s['exemplars']} top dataset examples, recentred on its receptive field, "
            f"rotated in {s['rotation_step']:g}° steps about it; mean response (SD). They are chosen unrotated, "
            "so the curve peaks near 0° by construction: its width is the evidence (vector strength "
            f"{rot['vector_strength'][j]:.2f}, half-width at half height {rot['half_width'][j]:.0f}°). Right: "
            f"synthetic curves in one frame for all units (preferred orientation {lay['preferred'][unit]:g}°, "
            f"vector strength {lay['vector_strength'][unit]:.2f})."), "Fig. 4")),
        ("5. Implementation: weights in", fig("in", (
            f"The {len(a['weights_in']['idx'][j])} strongest upstream units of {s['upstream']} by the L2 norm of "
            "their expanded weight (∂ unit(centre) / ∂ upstream unit, through the network with ReLUs as "
            "identity and max-pools as average pools); top: their feature visualisations, bottom: the weight "
            "map over upstream positions, labelled with sign(Σw)·‖w‖."), "Fig. 5")),
        ("6. Use: weights out", fig("out", (
            f"The downstream units of {s['downstream']} this unit drives most (expanded weights from this "
            "unit at every position to each target at its centre); top: their feature visualisations "
            f"({s.get('thumb_steps')} steps), bottom: the weight maps, red excites, blue inhibits."
            if s["weights"]["downstream_spatial"] else
            f"The {'classes' if s.get('classifier') else 'units'} of {s['downstream']} this unit drives most: "
            f"their feature visualisations ({s.get('thumb_steps')} steps) above the expanded weight from this "
            "unit, summed over its positions."), "Fig. 6")),
        ("7. Clean-room reimplementation", callout(CLEAN_ROOM)),
    ]
    grid = GRID_CSS + "<div class='args'>" + "".join(
        f"<div><h3>{_esc(h)}</h3>{body}</div>" for h, body in args) + "</div>"
    numbers = table(
        ["quantity", "value"],
        [["receptive field (px)", f"{rf['size'][0]}×{rf['size'][1]}, stride {rf['stride'][0]}"],
         ["top dataset activation", float(a["top_value"][j][0])],
         ["dataset mean / SD at the centre", f"{a['stats_mean'][j]:.4g} / {a['stats_sd'][j]:.4g}"],
         ["pre-ReLU mean", float(pre["mean"][j])], ["fires (pre > 0)", f"{100 * pre['fraction_positive'][j]:.1f}%"],
         ["positive-tail scale (exponential MLE)", float(pre["tail_mean"][j])],
         ["best synthetic curve (SD)", best["curve"]],
         ["preferred orientation, synthetic (°)", float(lay["preferred"][unit])],
         ["rotation: vector strength", float(rot["vector_strength"][j])],
         ["rotation: half-width (°)", float(rot["half_width"][j])],
         ["top inputs", ", ".join(f"{int(i)} ({v:+.2g})" for i, v in zip(a["weights_in"]["idx"][j],
                                                                         a["weights_in"]["val"][j]))],
         ["top outputs", ", ".join(f"{_target(s, int(i))} ({v:+.2g})" for i, v in zip(a["weights_out"]["idx"][j],
                                                                                      a["weights_out"]["val"][j]))]],
        caption="Every number comes from the saved circuits result.")
    sections = [("The seven arguments", grid), ("Numbers", numbers)]
    facts = {**facts, "layer": layer, "unit": unit, "upstream": s["upstream"], "downstream": s["downstream"]}
    return page(f"{layer} unit {unit}", sections, units_dir / f"{tag}.html", facts=facts,
                subtitle="The seven arguments of Zoom In (Olah et al. 2020) for one unit",
                footer=f"<a href='../{_esc(_tag(layer))}.html'>← {_esc(layer)}</a> · "
                       "<a href='../index.html'>all layers</a>")


def layer_page(out: Path, a: dict, s: dict, facts: dict) -> Path:
    layer = s["layer"]
    tag = _tag(layer)
    figs = out / "figures"
    lay, eq = a["layer"], s["equivariance"]
    f_fam = families_figure(lay, a["units"], figs / f"{tag}_families")
    f_eq = equivariance_figure(lay, eq, figs / f"{tag}_equivariance")
    rows = []
    for j, u in enumerate(a["units"]):
        u = int(u)
        thumb = f"figures/{tag}_{u}_featvis_thumb.png"
        rows.append([f"<a href='units/{_esc(tag)}_{u}.html'>{u}</a>", f"<img src='{_esc(thumb)}' width='72'>",
                     f"{a['featvis']['z'][j]:+.1f}", f"{lay['preferred'][u]:g}",
                     f"{lay['vector_strength'][u]:.3f}", f"{a['rotation']['vector_strength'][j]:.3f}",
                     f"{a['rotation']['half_width'][j]:.0f}", str(int(lay["families"][u])),
                     f"{100 * a['pre']['fraction_positive'][j]:.1f}%"])
    units = table(["unit", "feature vis.", "vis. (SD)", "preferred (°)", "synthetic VS", "rotation VS",
                   "rotation half-width (°)", "family", "fires"], rows, raw=True,
                  caption="VS: vector strength of the tuning curve (0 flat, 1 one angle). Synthetic: curve "
                          "stimuli over 0..360° (one frame); rotation: the unit's own top examples rotated.")
    sharp = s["sharpest"][:3]
    sharp_text = ", ".join(f"{d['unit']} (VS {d['vector_strength']:.2f}, half-width {d['half_width']:.0f}°)"
                           for d in sharp)
    verdict = ("above" if eq["r2"] > eq["r2_null_q95"] else "within") + " the 95th percentile of its null"
    eq_text = callout(
        f"<p>Binned fit w ≈ g(θ − φ) over {s['weights']['window_in']}×{s['weights']['window_in']} expanded "
        f"weights from all {len(lay['preferred_up'])} units of {_esc(s['upstream'])} to all "
        f"{len(lay['preferred'])} of {_esc(layer)} ({eq['bin_deg']:g}° bins): R² = {eq['r2']:.3f}, against {eq['r2_null_mean']:.3f} on "
        f"average for the same weights shuffled ({eq['permutations']} permutations; 95th percentile "
        f"{eq['r2_null_q95']:.3f}; p = {eq['r2_p']:.3f}): {verdict}. Rotated-weights correlation: "
        f"{eq['rotated_correlation']:.3f} over {eq['rotated_pairs']} connection pairs, "
        f"{eq['rotated_correlation_null']:.3f} with orientations shuffled.</p><p>Preferred orientations come from "
        "synthetic curves (argmax over 0..360° in 5° steps), for the upstream and this layer alike. "
        "A layer whose units are not oriented has no orientation to be equivariant in: read the score "
        "with the tuning curves above.</p>", kind="caveat" if eq["r2"] <= eq["r2_null_q95"] else "note", raw=True)
    sections = [
        ("Units", units + f"<p>Sharpest orientation tuning (rotation of own exemplars): {sharp_text}.</p>"),
        ("Families", _fig(f_fam, out, (
            f"Left: every unit's response to synthetic curves by orientation (max over radius, dataset SD), "
            f"grouped into {s['families']} families by K-means on the peak-aligned, peak-normalised curves "
            "(lines separate families). Right: each family's joint tuning."), "Fig. 1")),
        ("Equivariance", eq_text + _fig(f_eq, out, (
            "Left: summed expanded weight of every connection against the difference of preferred orientations, "
            "with the binned fit. Middle: R² of the same fit with the weights shuffled. Right: correlations of "
            "rotated weight maps over pairs of connections with matching relative orientation."), "Fig. 2")),
    ]
    return page(f"Circuits: {layer}", sections, out / f"{tag}.html", facts={**facts, "layer": layer,
                "upstream": s["upstream"], "downstream": s["downstream"], "units": len(a["units"])},
                footer="<a href='index.html'>all layers</a>")


def write(out, results: list[tuple[dict, dict]], facts: dict) -> Path:
    """Draw every page from ``[(arrays, summary) of each layer's circuits result]``; returns index.html."""
    out = Path(out)
    for sub in ("figures", "units"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for a, s in results:
        for j in range(len(a["units"])):
            unit_page(out, a, s, j, facts)
        layer_page(out, a, s, facts)
        eq = s["equivariance"]
        tag = _esc(_tag(s["layer"]))
        links = " ".join(f"<a href='units/{tag}_{int(u)}.html'>{int(u)}</a>" for u in a["units"])
        rows.append([f"<a href='{tag}.html'>{_esc(s['layer'])}</a>", links,
                     f"{eq['r2']:.3f} (null {eq['r2_null_mean']:.3f}, p {eq['r2_p']:.3f})",
                     f"{eq['rotated_correlation']:.3f}",
                     ", ".join(str(d["unit"]) for d in s["sharpest"][:3])])
    body = table(["layer", "unit pages", "equivariance R²", "rotated-weights r", "sharpest units"], rows, raw=True)
    return page("Circuits", [("Layers", body)], out / "index.html", facts=facts,
                subtitle="Feature visualisation, dataset and synthetic examples, tuning, weights in and out")
