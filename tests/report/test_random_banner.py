"""Random weights are said on every page every command writes (an untrained model's "features"
must never pass for a trained one's), and never on a page of real weights."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from jaxinterp import cli, models
from jaxinterp.checkpoint import save_variables
from jaxinterp.report import html

BANNER = "RANDOM WEIGHTS"

# the tiniest run of each page-writing command on small_cnn (8x8 grey); circuits' pages are
# checked on the run tests/recipes/test_circuits.py makes anyway (random:0), sweep's below
RUNS = {
    "paper": ["paper", "--arch", "small_cnn", "--layer", "relu1", "--k", "4", "--similarity", "colour",
              "--no-sae-sweep", "--no-gradients"],
    "roles": ["roles", "--arch", "small_cnn", "--layer", "relu1", "--levels", "pixels", "--samples", "60",
              "--mlp-steps", "5", "--jacobian-samples", "4", "--ksg-samples", "30", "--saliency-images", "4",
              "--top", "3", "--no-figures"],
    "featvis": ["featvis", "--arch", "small_cnn", "--layer", "relu1", "--units", "0:2", "--steps", "2",
                "--diversity", "0", "--negative-steps", "0", "--exemplars", "2"],
    "compare": ["compare", "--arch", "small_cnn", "--params", "PARAMS", "--arch", "small_cnn", "--layers-a",
                "relu1", "--layers-b", "relu1", "--m", "2", "--top-pairs", "1"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("banner")
    rng = np.random.default_rng(0)
    np.savez(root / "data.npz", images=rng.integers(0, 256, (24, 8, 8, 1), dtype=np.uint8),
             labels=rng.integers(0, 10, 24))
    save_variables(root / "trained", models.init(models.get("small_cnn"), jax.random.key(3)), {"arch": "small_cnn"})
    return root


def _pages(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.html") if "store" not in p.parts)


@pytest.mark.parametrize("command", sorted(RUNS))
def test_every_page_of_random_weights_says_so(command, data, tmp_path):
    out = tmp_path / "out"
    args = [a if a != "PARAMS" else "random:1" for a in RUNS[command]]
    assert cli.main([*args, "--params", "random:0", "--data", str(data / "data.npz"), "--out", str(out)]) == 0
    pages = _pages(out)
    assert pages, f"{command} wrote no page"
    for page in pages:
        assert BANNER in page.read_text(), f"{command}: {page.relative_to(out)} does not say random weights"


def test_sweep_pages_say_which_models_are_random(data, tmp_path):
    config = data / "grid.py"
    config.write_text("def get_config(smoke=False):\n    return dict(models={'a': ('small_cnn', 'random:0')}, "
                      "data='data.npz', layers=['relu1'], methods=['neurons'], ks=[4], seeds=[0], "
                      "similarities=['colour'], m=2)\n")
    assert cli.main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 0
    pages = _pages(tmp_path / "out")
    assert pages and all(BANNER in p.read_text() for p in pages)


def test_real_weights_get_no_banner(data, tmp_path):
    out = tmp_path / "out"
    assert cli.main([*RUNS["featvis"], "--params", str(data / "trained"), "--data", str(data / "data.npz"),
                     "--out", str(out)]) == 0
    assert _pages(out) and not any(BANNER in p.read_text() for p in _pages(out))


def test_page_banner_follows_the_weights_fact(tmp_path):
    for weights, shown in (("random:0", True), ("A: r20, B: random:1", True), ("r20", False)):
        text = html.page("t", [("s", "<p>x</p>")], tmp_path / "p.html", facts={"weights": weights}).read_text()
        assert (BANNER in text) == shown, weights
    assert BANNER not in html.page("t", [("s", "")], tmp_path / "q.html").read_text()
