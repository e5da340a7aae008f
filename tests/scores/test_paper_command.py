"""The `jaxinterp paper` command end to end on a tiny random model and images."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import cli, models
from jaxinterp.checkpoint import save_variables
from tests import _refs as ref


def test_paper_command_writes_arrays_summary_and_report(paper_run):
    """The shared tiny run (tests/fixtures.py): the files hold the data's counts and the numbers
    a numpy loop gives, and the page shows them beside every figure (tests/recipes/test_paper_tasks.py
    checks every array against its reference)."""
    out = paper_run.out
    summary = json.loads((out / "summary.json").read_text())
    arrays = np.load(out / "arrays.npz")
    data = np.load(paper_run.root / "data.npz")
    assert (summary["images"], summary["neurons"], summary["k"], summary["m"]) == (
        120, models.get("small_cnn_rgb").widths[0], 8, 5)
    n = summary["neurons"]
    np.testing.assert_array_equal(arrays["synergy_pairs"], np.stack(np.triu_indices(n, 1), 1))
    html = (out / "report.html").read_text()
    for sim_name, sim in (("colour", ref.colour_matrix(data["images"])), ("label", ref.label_matrix(data["labels"]))):
        ii = ref.ii(arrays["acts"], sim, 5, tie=0)[0]
        assert summary[f"mean_ii_neurons_{sim_name}"] == pytest.approx(ii.mean(), rel=1e-5)
        shown = f"{ii.mean():.4f} ± {ii.std(ddof=1) / np.sqrt(n):.4f}".replace("-", "−")
        assert shown in html, sim_name
    for fig in ("fig3_ii", "fig4_exemplars", "fig5_psychophysics", "fig6_manifold", "fig7_sensitivity",
                "fig8_synergy", "fig9_sae_sweep", "fig10_coactivation", "fig11_spectrum"):
        assert (out / f"{fig}.png").stat().st_size > 0 and f"{fig}.png" in html


def test_paper_command_rejects_lpips_without_weights(tmp_path, rng, capsys):
    model = models.get("small_cnn_rgb")
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    save_variables(tmp_path / "params", variables, {"arch": "small_cnn_rgb"})
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
             labels=np.zeros(40, int))
    code = cli.main(["paper", "--arch", "small_cnn_rgb", "--params", str(tmp_path / "params"),
                     "--data", str(tmp_path / "d.npz"), "--layer", "relu1", "--similarity", "lpips",
                     "--out", str(tmp_path / "o")])
    assert code == 2
    assert "--lpips-backbone" in capsys.readouterr().err
