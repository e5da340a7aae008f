"""``jaxinterp atlas`` on a tiny random CNN: every page kind, every link and image, the numbers
against the store and an independent forward pass, bad input before any work, resume."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

from jaxinterp.cli import main
from tests.atlas.conftest import command
from tests.kill9 import entries, kill_after_random_entries


def site_files(out: Path) -> dict[str, bytes]:
    """Every file of the site (not the store), by its path under ``out``."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "store" not in p.relative_to(out).parts}


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("href", "src"):
            if attrs.get(name) and (tag, name) in (("a", "href"), ("link", "href"), ("img", "src"),
                                                   ("script", "src")):
                self.targets.append((tag, attrs[name]))


def test_every_page_kind_exists_and_every_link_and_image_resolves(atlas_site):
    out = atlas_site
    for page in ("index.html", "atlas.css", "atlas.js", "atlas.json", "relu1/index.html", "relu2/index.html",
                 "relu2/table.json", "relu1/unit/0.html", "relu2/unit/2.html", "relu2/kmeans/0.html",
                 "relu2/kmeans/2.html", "relu2/unit/img/1.png", "relu2/unit/img/1_diverse.png",
                 "relu2/unit/img/1_negative.png", "relu2/unit/img/1_top.png", "relu2/unit/img/1_bottom.png",
                 "relu2/unit/img/1_quilt.png", "relu2/unit/img/1_match.png", "relu2/unit/img/1_matchvis.png",
                 "relu2/kmeans/img/2_top.png", "relu2/kmeans/img/2_matchvis.png", "relu2/kmeans/img/2_quilt.png",
                 "relu2/unit/img/1_top_heat.png", "relu2/unit/img/1_bottom_heat.png", "relu1/unit/img/0_top_heat.png",
                 "relu2/kmeans/img/2_bottom_heat.png"):
        assert (out / page).is_file(), page
    assert not (out / "relu2/unit/3.html").exists()  # --units 3
    assert not (out / "relu1/kmeans").exists()       # --direction-layers relu2
    pages = [p for p in out.rglob("*.html") if "store" not in p.parts]
    assert len(pages) == 1 + 2 + 3 + 3 + 3
    checked = 0
    for page in pages:
        parser = Links()
        parser.feed(page.read_text())
        assert parser.targets, page
        for tag, target in parser.targets:
            parts = urlsplit(target)
            assert not parts.scheme and not parts.netloc and not target.startswith("/"), (page, target)
            if not parts.path:  # a link within the page
                continue
            resolved = (page.parent / unquote(parts.path)).resolve()
            assert resolved.is_file(), f"{page.relative_to(out)}: <{tag}> {target} -> {resolved} is missing"
            assert out.resolve() in resolved.parents, (page, target)
            checked += 1
    assert checked > 100
    # neighbours link across layers: relu2's weights in come from relu1, whose first 3 units have pages
    unit = (out / "relu2/unit/0.html").read_text()
    assert "../../relu1/unit/" in unit or "relu1 " in unit
    assert "<h2>Compared model</h2>" in unit and "<h2>Synergy partners</h2>" in unit and "<h2>Role</h2>" in unit
    # dataset examples: under each row of crops, the same crops coloured by the unit's map (its own
    # tiles: the same size, other pixels), the colours explained
    from PIL import Image

    for s, page in (("unit", unit), ("kmeans", (out / "relu2/kmeans/0.html").read_text())):
        for side in ("top", "bottom"):
            assert f"src='img/0_{side}.png'" in page and f"src='img/0_{side}_heat.png'" in page, (s, side)
            plain, heat = (np.asarray(Image.open(out / f"relu2/{s}/img/0_{name}.png"))
                           for name in (side, f"{side}_heat"))
            assert plain.shape == heat.shape and np.any(plain != heat), (s, side)
        assert "divided by its highest value on its most activating images" in page and "(black) to" in page


def cells(page: Path) -> dict[str, float]:
    """The exact values of a page's table cells, by column."""
    return {col: float(v) for col, v in re.findall(r"data-col='([\w.]+)' data-value='([^']+)'", page.read_text())}


def test_unit_pages_show_the_stored_results_and_independent_numbers(atlas_site, atlas_data):
    from scipy import stats

    from jaxinterp import similarity, steps, tasks
    from jaxinterp.recipes.atlas import atlas_tasks
    from jaxinterp.scores import interpretability_index_all
    from tests.flax_reference import forward

    model, data = steps.model_spec("small_cnn_rgb", "random:0"), steps.data_spec(atlas_data)
    other = steps.model_spec("small_cnn_rgb", "random:1")
    graph = atlas_tasks(model, data, ["relu1", "relu2"], directions=("kmeans",), direction_layers=["relu2"], k=3,
                        units=3, compare=other, steps=4, diversity=2, diversity_steps=2, negative_steps=2,
                        exemplars=3, role_options={"samples": 200, "mlp_steps": 20})
    store = tasks.Store(atlas_site / "store")
    layer = graph["layer:relu2"]
    assert store.has(layer)  # the command built this very graph
    stored = {name: store.load(dep) for name, dep in layer.deps.items()}
    # an independent forward pass: spatial means of relu2 over the data, both models
    net, variables = steps.load_model(model)
    raw = np.load(atlas_data)
    x = raw["images"].astype(np.float32) / 255
    acts = np.asarray(forward(net, variables, net.normalize(x), ["relu2"])[1]["relu2"]).mean(axis=(1, 2))  # [60, 64]
    ii = np.asarray(interpretability_index_all(acts, similarity.colour, similarity.colour.featurize(x, raw["labels"]),
                                               m=5))
    partner = store.load(layer).summary["compare"]["partner"]
    net_b, variables_b = steps.load_model(other)
    acts_b = np.asarray(forward(net_b, variables_b, net_b.normalize(x), [partner])[1][partner]).mean(axis=(1, 2))
    all_ii = stored["ii_neurons_colour"].arrays["ii"]
    soft = stored["psy_neurons_label"].arrays["soft"][0]
    roles = stored["roles"]
    for i in range(3):
        got = cells(atlas_site / f"relu2/unit/{i}.html")
        assert got["ii_colour"] == float(all_ii[i])                      # the stored number, exactly
        np.testing.assert_allclose(got["ii_colour"], ii[i], rtol=1e-4, atol=1e-6)  # and an independent one
        assert got["ii_colour_pct"] == pytest.approx(stats.percentileofscore(all_ii, all_ii[i], kind="weak"))
        assert got["psy_label"] == float(soft[i])
        assert got["psy_label_pct"] == pytest.approx(stats.percentileofscore(soft, soft[i], kind="weak"))
        assert got["max_activation"] == pytest.approx(acts[:, i].max(), rel=1e-5)
        assert got["linearity_r2"] == float(roles.arrays["table"]["pixels.r2_lin"][i])
        role = re.search(r"data-col='role'>([^<]*)<", (atlas_site / f"relu2/unit/{i}.html").read_text()).group(1)
        assert role == roles.summary["roles"][i]
        best = int(stored["match"].arrays["best_partner"][i])
        assert f"<b>{partner} {best}</b>" in (atlas_site / f"relu2/unit/{i}.html").read_text()
        assert got["match_corr"] == pytest.approx(np.corrcoef(acts[:, i], acts_b[:, best])[0, 1], abs=1e-4)
    km = stored["ii_kmeans_colour"].arrays["ii"]
    proj = acts @ np.asarray(stored["fit_kmeans"].arrays["directions"], np.float64).T     # [60, 3]: the directions
    render = stored["match_render"]
    for i in range(3):
        page = (atlas_site / f"relu2/kmeans/{i}.html").read_text()
        got = cells(atlas_site / f"relu2/kmeans/{i}.html")
        assert got["ii_colour"] == float(km[i])
        assert got["linearity_r2"] == float(stored["roles_kmeans"].arrays["table"]["pixels.r2_lin"][i])
        assert "<h2>Not measured</h2>" not in page
        for h in ("Role", "Tuning", "Weights", "Synergy partners", "Compared model"):
            assert f"<h2>{h}</h2>" in page, h
        best = int(stored["match_kmeans"].arrays["best_partner"][i])
        assert f"<b>{partner} {best}</b>" in page and f"img/{i}_matchvis.png" in page
        assert got["match_corr"] == pytest.approx(np.corrcoef(proj[:, i], acts_b[:, best])[0, 1], abs=1e-4)
        assert best in render.arrays["units"]  # its own visualisation was rendered (once per matched unit)
    assert render.summary["partner"] == partner
    assert set(render.arrays["units"]) == {int(u) for name in ("match", "match_kmeans")
                                           for u in stored[name].arrays["best_partner"][:3]}
    # the layer table (what the grid sorts) holds the same numbers
    table = json.loads((atlas_site / "relu2/table.json").read_text())
    assert table["sets"]["neurons"]["rows"]["ii_colour"] == [float(v) for v in all_ii[:3]]
    assert table["sets"]["kmeans"]["rows"]["ii_colour"] == [float(v) for v in km[:3]]
    index = (atlas_site / "index.html").read_text()
    assert f"data-value='{float(np.mean(all_ii.astype(np.float64)))!r}'" in index  # mean II of all 64 neurons of relu2


@pytest.mark.parametrize("extra, message", [
    (["--layers", "relu9"], "unknown layer 'relu9'"),
    (["--layers", "relu2", "--compare", "small_cnn", "random:0"], "takes 8-px images"),
    (["--layers", "relu2", "--directions", "kmeans,bogus"], "unknown direction set(s) ['bogus']"),
    (["--layers", "relu2", "--units", "0"], "--units must be a positive number"),
    (["--layers", "relu2", "--direction-layers", "relu1"], "are not among --layers"),
])
def test_bad_input_is_one_line_before_any_work(extra, message, tmp_path, atlas_data, capsys):
    out = tmp_path / "out"
    args = ["atlas", "--arch", "small_cnn_rgb", "--params", "random:0", "--data", str(atlas_data), "--out", str(out)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()  # no store, no page, no folder


def test_an_out_with_another_models_atlas_is_refused_before_any_work(tmp_path, atlas_data, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "atlas.json").write_text(json.dumps({"arch": "small_cnn_rgb", "params": "random:1",
                                                "fingerprint": "random"}))
    assert main(["atlas", "--arch", "small_cnn_rgb", "--params", "random:0", "--data", str(atlas_data),
                 "--layers", "relu2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds the atlas of another model" in err and "pass another --out" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["atlas.json"]


def test_a_killed_run_resumes_with_the_unfinished_tasks_and_draws_the_same_site(atlas_site, atlas_env,
                                                                                   atlas_data, tmp_path):
    out = tmp_path / "out"
    total = entries(atlas_site / "store")
    kill_after_random_entries(command(atlas_data, out), atlas_env, out / "store", 3, total - 10)
    before = {p.stem for p in (out / "store" / "commits").glob("*/*.json")}
    assert 0 < len(before) < total and not (out / "index.html").exists()
    done = subprocess.run(command(atlas_data, out), env=atlas_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ran = re.findall(r"atlas: \[\d+/\d+\] \S+ ([0-9a-f]{12}) done", done.stdout)
    assert len(ran) == total - len(before) == json.loads(done.stdout.splitlines()[-1])["computed"]
    assert not {key for key in before if key[:12] in ran}  # nothing saved was computed again
    assert entries(out / "store") == total
    assert site_files(out) == site_files(atlas_site)  # every page, table, image: byte for byte
    # --report-only draws the same site from the store, and refuses a store without the results
    (out / "relu2" / "index.html").unlink()
    assert main([*command(atlas_data, out)[3:], "--report-only"]) == 0
    assert site_files(out) == site_files(atlas_site)
    empty = tmp_path / "empty"
    assert main([*command(atlas_data, empty)[3:], "--report-only"]) == 2


def test_a_smaller_units_leaves_no_stale_unit_pages(atlas_site, tmp_path):
    """A redraw with fewer units removes the pages and images of the units no longer shown, and
    nothing else (write_site calls this for every set)."""
    import shutil

    from jaxinterp.report.atlas import _drop_stale

    out = tmp_path / "site"
    shutil.copytree(atlas_site, out, ignore=shutil.ignore_patterns("store"))
    unit = out / "relu2" / "unit"
    before = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    assert (unit / "2.html").exists() and list(unit.glob("img/2_*.png"))
    _drop_stale(unit, 2)
    gone = before - {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    assert gone and all(p.parts[:3] in (("relu2", "unit", "2.html"), ("relu2", "unit", "img")) for p in gone)
    assert all(p.name.split("_")[0].split(".")[0] == "2" for p in gone)
    assert (unit / "1.html").exists() and (out / "relu2" / "index.html").exists()
