"""A small graph of every kind of task the paper and the sweeps run, for the change-of-layout test.

``python -m tests.tasks.layout_graph OUT STORE DATA_DIR`` (on 8 forced CPU devices) resumes
the graph on the store that 1 device wrote, then computes the tasks it reused (those that claim
not to depend on the layout) again in a fresh store, and saves to OUT: the graph names it
computed on resuming, and every array of the fresh run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from jaxinterp import steps, tasks
from jaxinterp.recipes import paper

PAPER = ("acts", "fit_neurons", "fit_kmeans", "ii_neurons_colour", "ii_kmeans_colour", "psy_neurons_colour",
         "psy_kmeans_colour", "synergy", "coactivation", "spectrum", "sae_0_0")


def build(data_dir: Path) -> dict[str, tasks.Task]:
    """Tasks of the paper graph of relu1 of a random small_cnn (capture, neurons, K-means, II,
    psychophysics, synergy, co-activation, spectrum, an SAE cell; not the slower t-SNE, sensitivity
    and gather), and the sweep's fits (PCA, ICA, NMF, SAE) with their II."""
    data = steps.data_spec(data_dir / "data.npz")
    model = steps.model_spec("small_cnn", "random:0")
    colour = steps.SimilaritySpec("colour")
    full = paper.paper_tasks(model, data, "relu1", {"colour": colour}, k=6, m=3, gradients=False,
                             sae_ratios=(1.0,), sae_l1=(0.1,), sae_steps=20)
    g = {name: full[name] for name in PAPER}
    g["capture_small_batches"] = steps.capture_task(model, data, "relu2", batch_size=8)  # 9 steps on 1 device
    for method, options in (("pca", {}), ("ica", {}), ("nmf", {}), ("sae", {"max_steps": 20, "batch_size": 32})):
        g[f"fit_{method}"] = steps.fit_task(g["acts"], method, k=6, seed=0, **options)
        g[f"ii_{method}_colour"] = steps.ii_task(g[f"fit_{method}"], colour, data, m=3)
    return g


def write_data(data_dir: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(data_dir / "data.npz", images=rng.integers(0, 256, (72, 8, 8, 1), dtype=np.uint8),
             labels=rng.integers(0, 3, 72))


def arrays(results: dict, g: dict) -> dict[str, np.ndarray]:
    """``{"<graph name>/<array path>": array}`` of every task of ``g``."""
    out = {}
    for name, t in g.items():
        for path, a in tasks.store.flatten_arrays(results[t.key].arrays).items():
            out[f"{name}/{path}"] = a
    return out


if __name__ == "__main__":
    import jax

    out, store, data_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    assert jax.device_count() == 8, jax.devices()
    g = build(data_dir)
    names = {t.key: name for name, t in g.items()}
    _, resumed = tasks.run(list(g.values()), tasks.Store(store), load_targets=False)
    reused = {names[t.key]: t for t in resumed.loaded}
    with tempfile.TemporaryDirectory() as fresh:
        results, _ = tasks.run(list(reused.values()), tasks.Store(fresh))
    np.savez(out, __resumed__=np.array(sorted(names[t.key] for t in resumed.executed)), **arrays(results, reused))
