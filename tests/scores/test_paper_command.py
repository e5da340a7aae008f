"""The `jaxinterp paper` command end to end on a tiny random model and images."""

import json

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp import cli, models
from jaxinterp.checkpoint import save_variables


def test_paper_command_writes_arrays_summary_and_report(tmp_path, rng):
    model = models.get("small_cnn_rgb")
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    save_variables(tmp_path / "params", variables, {"arch": "small_cnn_rgb"})
    images = rng.integers(0, 256, (120, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "data.npz", images=images, labels=rng.integers(0, 10, 120))
    out = tmp_path / "out"
    code = cli.main(["paper", "--arch", "small_cnn_rgb", "--params", str(tmp_path / "params"),
                     "--data", str(tmp_path / "data.npz"), "--layer", "relu1", "--k", "8",
                     "--similarity", "colour", "label", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    arrays = np.load(out / "arrays.npz")
    n = summary["neurons"]
    assert arrays["synergy"].shape == (n * (n - 1) // 2,)
    assert arrays["ii_kmeans_colour"].shape == (8,)
    assert arrays["grad_min"].shape == (8,)
    html = (out / "report.html").read_text()
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
