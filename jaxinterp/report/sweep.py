"""The sweep report: a table of every cell and II per method × K × layer, drawn from ``cells.json``.

Reads only ``out/cells.json`` (written by :func:`jaxinterp.recipes.sweep.run` from the
store): its cells, its groups with the means and standard deviations over seeds
(:func:`jaxinterp.recipes.sweep.groups`), and what ran on each host (the processes' notes,
:class:`jaxinterp.recipes.sweep_cells.HostRecord`); computes nothing.
"""

from __future__ import annotations

import html
import json
import time
from collections import defaultdict
from pathlib import Path

from jaxinterp.report.html import display_width, figure, page, table
from jaxinterp.report.style import new_figure, save, styled

METHOD_STYLE = {"neurons": ("k", "s"), "kmeans": ("tab:blue", "o"), "pca": ("tab:green", "^"),
                "sae": ("tab:red", "D"), "ica": ("tab:purple", "v"), "nmf": ("tab:brown", "P"),
                "minibatch_kmeans": ("tab:cyan", "o")}


def _panels(groups, sim):
    """{(model, layer): {method: [(k, mean, sd) by K]}} over the groups with done cells."""
    out = defaultdict(lambda: defaultdict(list))
    for g in groups:
        if g["done"]:
            out[(g["model"], g["layer"])][g["method"]].append((g["k"], g[f"mean_ii_{sim}"], g[f"sd_ii_{sim}"]))
    return out


@styled
def _figure(groups, sim: str, path: Path) -> None:
    by_panel = _panels(groups, sim)
    panels = sorted(by_panel)
    cols = min(4, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = new_figure(nrows, cols, figsize=(3.0 * cols, 2.6 * nrows), sharey=True)
    for ax, (model, layer) in zip(axes.flat, panels):
        for method, points in sorted(by_panel[(model, layer)].items()):
            colour, marker = METHOD_STYLE.get(method, ("grey", "o"))
            ks, mean, sd = (list(v) for v in zip(*points))  # sorted by K, as the groups are
            if method == "neurons":
                ax.axhline(mean[0], color=colour, ls="--", lw=1, label="neurons (all N of the layer)")
                continue
            ax.errorbar(ks, mean, yerr=sd, color=colour, marker=marker, ms=4, capsize=3, lw=1.2, label=method)
        ax.set_title(f"{model} · {layer}", fontsize=9)
        ax.set_xlabel("K (directions)")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"mean Interpretability Index\n({sim} similarity, a.u.)")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(6, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    save(fig, path)


def write(out: str | Path) -> Path:
    """Draw ``out/index.html`` and ``out/sweep_ii_<similarity>.png/.svg`` from ``out/cells.json``."""
    out = Path(out)
    data = json.loads((out / "cells.json").read_text())
    rows, config, summary = data["cells"], data["config"], data["summary"]
    if "groups" not in data:
        raise ValueError(f"{out / 'cells.json'} has no per-(model, layer, method, K) groups (an older "
                         "jaxinterp wrote it); rerun the sweep command without --report-only to rewrite it "
                         "(finished cells are reused)")
    groups = data["groups"]
    sims = list(config["similarities"])
    sections = []
    for sim in sims:
        name = f"sweep_ii_{sim}"
        if any(r["state"] == "done" for r in rows):
            _figure(groups, sim, out / name)
            sections.append((f"II with the {sim} similarity", figure(
                f"{name}.png", label=f"Fig. {len(sections) + 1}", formats=("svg",),
                width=display_width(out / f"{name}.png"),
                caption=f"Mean Interpretability Index (M={config['m']}, {sim} similarity) of each direction set "
                f"against the number of directions K, one panel per model and layer. Points: mean over "
                f"seeds {config['seeds']}; bars: ±1 s.d. over seeds (none for one seed). Dashed: the "
                f"layer's own neurons.")))
    header = ["model", "layer", "method", "K", "cells done"] + [f"II {s} (mean ± s.d.)" for s in sims]
    body = []
    for g in groups:
        vals = [f"{g[f'mean_ii_{s}']:.4f} ± {g[f'sd_ii_{s}']:.4f}" if g["done"] > 1 else
                (f"{g[f'mean_ii_{s}']:.4f}" if g["done"] else "—") for s in sims]
        body.append([g["model"], g["layer"], g["method"], g["k"], f"{g['done']}/{g['cells']}", *vals])
    sections.append(("Every (model, layer, method, K)", table(header, body)))
    bad = [r for r in rows if r["state"] != "done"]
    if bad:
        lines = []
        for r in bad:
            label = f"{r['model']} {r['layer']} {r['method']} k={r['k']} seed={r['seed']}"
            lines.append(f"<tr><td>{html.escape(label)}</td><td>{html.escape(str(r['state']))}</td>"
                         f"<td class='bad'>{html.escape(r.get('error', ''))}</td></tr>")
        sections.append(("Cells not done", "<table><tr><th>cell</th><th>state</th><th>error</th></tr>"
                         + "".join(lines) + "</table><p>Rerun the same command to retry them; "
                         "finished cells are reused.</p>"))
    hosts = data.get("hosts") or []
    if hosts:
        sections.append(("What ran where", _hosts_table(hosts)))
    facts = {"models": ", ".join(f"{k} ({v[0]})" for k, v in config["models"].items()),
             "weights": ", ".join(f"{k}: {v[1]}" for k, v in config["models"].items()),
             "layers": ", ".join(config["layers"]), "data": Path(str(config["data"])).name,
             "images": config["limit"] or "all", "cells": f"{summary['done']}/{summary['cells']} done",
             "processes": summary["processes"], "devices": summary["devices"]}
    return page("jaxinterp sweep: interpretability of direction sets", sections, out / "index.html", facts)


def _hosts_table(hosts: list[dict]) -> str:
    """One row per process that worked on the sweep (earliest first): host, process, engine,
    cells it computed / found done / saw fail, their seconds, when it started and last wrote."""
    def when(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "—"

    body = []
    for h in hosts:
        cells = h.get("cells") or []
        count = {s: sum(c.get("state") == s for c in cells) for s in ("done", "reused", "failed")}
        busy = sum(c.get("seconds") or 0 for c in cells if c.get("state") != "reused")
        process = "Ray worker" if h.get("engine") == "ray" else f"{h.get('process')} of {h.get('processes')}"
        body.append([h.get("host", "?"), process, h.get("pid", "?"), count["done"], count["reused"], count["failed"],
                     f"{busy:.1f}", f"{h.get('capture_seconds', 0) or 0:.1f}", when(h.get("started")),
                     when(h.get("updated")), h.get("state", "—") if h.get("engine") != "ray" else "—"])
    return table(["host", "process", "pid", "cells computed", "cells found done", "cells failed",
                  "cell seconds", "capture seconds", "started", "last update", "state"], body,
                 caption="Each process that worked on this sweep's store, from its note in the store "
                 "(notes/hosts/): the cells it computed, found already done, or saw fail after its "
                 "retries; the seconds its computed and failed cells took, and its capture phase.")
