"""`paper` as a graph of tasks: every saved number against an independent reference, resumption.

Each quantity of the tiny run (tests/fixtures.py) is recomputed with plain numpy, scipy,
scikit-learn or torch (tests/_refs.py), from the data and the run's upstream arrays, and
compared at tolerances set by float32 arithmetic. A reference consumes the very float32
activations the code ranked (so a top-M among values 1e-7 apart is the same choice on both
sides), and each stage of the chain is checked on its own. Iterative fits (K-means, the SAE)
are checked by properties: a Lloyd fixed point near scikit-learn's inertia, consistent grids.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy import stats

from jaxinterp import cli, tasks
from tests import _refs as ref
from tests.kill9 import kill_after_random_entries

REPO = Path(__file__).resolve().parents[2]
M, REFS = 5, 9


@pytest.fixture(scope="module")
def uninterrupted(paper_run):
    return paper_run.root, paper_run.args


@pytest.fixture(scope="module")
def run(paper_run):
    """The run's arrays and summary, its data, the two similarity matrices and the K-means
    activations the scores ranked (read from the store)."""
    out = paper_run.out
    data = np.load(paper_run.root / "data.npz")
    arrays = dict(np.load(out / "arrays.npz"))
    return {"a": arrays, "s": json.loads((out / "summary.json").read_text()), "images": data["images"],
            "labels": data["labels"],
            "sims": {"colour": ref.colour_matrix(data["images"]), "label": ref.label_matrix(data["labels"])},
            "sets": {"neurons": arrays["acts"], "kmeans": paper_run.stored("directions", "activations",
                                                                           method="kmeans")},
            "root": paper_run.root}


def _key(i):
    """The recipe's keys (module docstring): split(key(0), 3) -> K-means, psychophysics, spectrum."""
    return jax.random.split(jax.random.key(0), 3)[i]


def test_activations_are_the_layer_mean_computed_in_torch(run):
    torch = pytest.importorskip("torch")
    from jaxinterp import load_variables, models

    model = models.get("small_cnn_rgb")
    net = ref.torch_small_cnn(load_variables(run["root"] / "params")[0], model.MEAN, model.STD)
    (relu1,) = net(torch.tensor(run["images"] / 255.0), 1)
    np.testing.assert_allclose(run["a"]["acts"], relu1.mean((2, 3)).numpy(), rtol=1e-5, atol=1e-6)


def test_kmeans_is_a_lloyd_fixed_point_as_good_as_sklearn(run):
    """Iterative: no exact reference. Each centroid is the mean of the unit rows nearest to it,
    the activations are the projections on them, and the inertia is within 10% of the best of
    10 scikit-learn restarts."""
    from sklearn.cluster import KMeans

    unit, cents = ref.unit_rows(run["a"]["acts"]), run["a"]["centroids"].astype(np.float64)
    nearest = np.argmin(((unit[:, None] - cents[None]) ** 2).sum(-1), 1)
    assert len(np.unique(nearest)) == 8
    for k in range(8):
        np.testing.assert_allclose(cents[k], unit[nearest == k].mean(0), atol=1e-5)
    inertia = ((unit - cents[nearest]) ** 2).sum()
    assert inertia <= 1.1 * KMeans(8, n_init=10, random_state=0).fit(unit).inertia_
    np.testing.assert_allclose(run["sets"]["kmeans"], unit @ cents.T, rtol=1e-5, atol=1e-6)


def test_ii_and_exemplars_match_a_numpy_loop(run):
    a, s = run["a"], run["s"]
    for dname, f in run["sets"].items():
        np.testing.assert_array_equal(a[f"top_{dname}"], ref.top_m_all(f, M, tie=0)[0])
        for sim_name, sim in run["sims"].items():
            want, _ = ref.ii(f, sim, M, tie=0)
            np.testing.assert_allclose(a[f"ii_{dname}_{sim_name}"], want, rtol=1e-5, atol=1e-7)
            assert s[f"mean_ii_{dname}_{sim_name}"] == pytest.approx(want.mean(), rel=1e-5)


def test_psychophysics_matches_numpy_up_to_the_tie_rule(run):
    """Soft scores (mean pooling) equal numpy's; a hard accuracy is bounded by the trials clearly
    won and those not clearly lost, so it holds whatever rule decides a tie. Trials come from the
    recipe's draws: direction u uses fold_in(psychophysics key, u), split into the two orders.
    Where an image sits on a quantile cut within float32 rounding, either side of it is accepted."""
    a, s = run["a"], run["s"]
    # T = the largest T <= 20 with 120·(1 - 2q) kept images > 4·T·(R + 1) = 40·T
    assert [s[f"trials_q{q}"] for q in (0.0, 0.1, 0.25)] == [2, 2, 1]
    np.testing.assert_array_equal(a["psy_quantiles"], [0.0, 0.1, 0.25])
    for sim_name, sim in run["sims"].items():
        pool = "mean" if sim_name == "label" else "max"
        for dname, f in run["sets"].items():
            for qi, q in enumerate(a["psy_quantiles"]):
                trials = s[f"trials_q{q}"]
                for u in range(f.shape[1]):
                    orders = [np.asarray(jax.random.permutation(k, trials))
                              for k in jax.random.split(jax.random.fold_in(_key(1), u))]
                    # tie=0: f is the array the code ranked, so the ranking is the same
                    candidates, _ = ref.psychophysics_trials(f[:, u], q, trials, REFS, *orders, tie=0)
                    got = a[f"psy_soft_{dname}_{sim_name}"][qi, u], a[f"psy_{dname}_{sim_name}"][qi, u]
                    assert any(_agrees(got, sim, trial, pool) for trial in candidates), (sim_name, dname, q, u)


def _agrees(got, sim, trial, pool) -> bool:
    soft = np.mean(1 / (1 + np.exp(-ref.psychophysics_margins(sim, *trial, "mean"))))
    margin = ref.psychophysics_margins(sim, *trial, pool)
    won, lost = np.mean(margin > 1e-4), np.mean(margin < -1e-4)
    return abs(got[0] - soft) <= 1e-5 and won - 1e-6 <= got[1] <= 1 - lost + 1e-6


def test_manifold_matches_numpy(run):
    from sklearn.manifold import trustworthiness

    a = run["a"]
    tops = {d: ref.top_m_all(f, M, tie=0)[0] for d, f in run["sets"].items()}
    images = np.unique(np.concatenate([t.ravel() for t in tops.values()]))
    np.testing.assert_array_equal(a["tsne_images"], images)
    # t-SNE is iterative: its 2-D layout keeps the colour neighbours (random layouts score ~0.5)
    dist = -run["sims"]["colour"][np.ix_(images, images)]
    assert trustworthiness(dist, a["tsne"], n_neighbors=5, metric="precomputed") > 0.9
    row = {int(i): r for r, i in enumerate(images)}
    for d, top in tops.items():
        want = [ref.manifold_sparsity(a["tsne"], [row[int(i)] for i in t]) for t in top]
        np.testing.assert_allclose(a[f"sparsity_{d}"], want, rtol=1e-5)
    # Eq. 4 z-scores distances between nearly parallel unit vectors (d ~ 1e-3, computed in float32
    # as |a|² - 2a·μ + |μ|²): absolute error ~1e-4 after the z-scoring
    unit = ref.unit_rows(a["acts"])
    np.testing.assert_allclose(a["tsne_act_kmeans"], ref.eq4(unit[images], a["centroids"].astype(np.float64)),
                               atol=2e-3)


def test_sensitivity_matches_numpy(run):
    a, sim = run["a"], run["sims"]["colour"]
    cents = a["centroids"].astype(np.float64)
    pairs = np.stack(np.triu_indices(8, 1), 1)
    np.testing.assert_allclose(a["cross_ii"], ref.cross_ii(run["sets"]["kmeans"], sim, pairs, M, tie=0)[0],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a["centroid_dist"], np.linalg.norm(cents[pairs[:, 0]] - cents[pairs[:, 1]], axis=1),
                               rtol=1e-5)
    np.testing.assert_allclose(a["alphas"], np.linspace(-0.5, 1.5, 21), atol=1e-12)
    unit = ref.unit_rows(a["acts"])
    decided = 0
    for p, (i, j) in enumerate(ref.hungarian_pairs(cents)):
        for k, alpha in enumerate(a["alphas"]):
            f = -np.linalg.norm(unit - ref.interpolate(cents[i], cents[j], alpha), axis=1)
            # f is a small distance computed in float32 by cancellation: rank errors ~1e-5 relative
            (want,), (ok,) = ref.ii(f[:, None], sim, M, tie=1e-4)
            if ok:
                decided += 1
                assert a["path_ii"][p, k] == pytest.approx(want, rel=1e-5, abs=1e-7), (p, k)
    assert decided >= 0.9 * a["path_ii"].size


def test_gradient_norms_match_torch_autograd(run):
    """G(v) = ‖∇ₓ f_v(x)‖ at each centroid's top-M images, f_v = -‖â(x) - v‖, x the [0, 1] image."""
    torch = pytest.importorskip("torch")
    from jaxinterp import load_variables, models

    a = run["a"]
    model = models.get("small_cnn_rgb")
    net = ref.torch_small_cnn(load_variables(run["root"] / "params")[0], model.MEAN, model.STD)
    unit, cents = ref.unit_rows(a["acts"]), a["centroids"].astype(np.float64)
    for k, c in enumerate(cents):
        top, decided = ref.top_m(-np.linalg.norm(unit - c, axis=1), M, tie=1e-4)
        if not decided:
            continue
        x = torch.tensor(run["images"][top] / 255.0, requires_grad=True)
        y = net(x, 1)[0].mean((2, 3))
        f = -(y / y.norm(dim=1, keepdim=True) - torch.tensor(c)).norm(dim=1)
        norms = torch.autograd.grad(f.sum(), x)[0].reshape(M, -1).norm(dim=1).numpy()
        assert a["grad_mean"][k] == pytest.approx(norms.mean(), rel=1e-4)
        assert a["grad_min"][k] == pytest.approx(norms.min(), rel=1e-4)


def test_synergy_and_coactivation_match_numpy(run):
    a, sim = run["a"], run["sims"]["colour"]
    acts = a["acts"]
    n = acts.shape[1]
    np.testing.assert_array_equal(a["synergy_pairs"], np.stack(np.triu_indices(n, 1), 1))
    ii, _ = ref.ii(acts, sim, M, tie=0)
    z = ref.zscore(acts)
    want = np.full(len(a["synergy_pairs"]), np.nan)
    for p, (i, j) in enumerate(a["synergy_pairs"]):
        (pair,), (decided,) = ref.ii((z[:, i] + z[:, j])[:, None], sim, M)
        if decided:
            want[p] = pair - max(ii[i], ii[j])
        assert a["synergy_rho"][p] == pytest.approx(ref.pearson(acts[:, i], acts[:, j]), abs=1e-5)
    ok = np.isfinite(want)
    assert ok.mean() > 0.95
    np.testing.assert_allclose(a["synergy"][ok], want[ok], rtol=1e-5, atol=1e-7)
    for u in range(n):
        mine = (a["synergy_pairs"] == u).any(1)
        assert a["max_synergy"][u] == pytest.approx(a["synergy"][mine].max(), abs=1e-7)
    np.testing.assert_allclose(a["coactivation"], ref.coactivation(acts), atol=1e-5)


def test_spectrum_matches_numpy_svd(run):
    a, s = run["a"], run["s"]
    np.testing.assert_allclose(a["spectrum_noncv"], ref.spectrum_noncv(a["acts"]), rtol=1e-4, atol=1e-7)
    half = np.asarray(jax.random.permutation(_key(2), a["acts"].shape[0]))  # the recipe's draw
    np.testing.assert_allclose(a["spectrum_split"], ref.spectrum_split(a["acts"], half), rtol=1e-4, atol=1e-7)
    for mode in ("noncv", "split"):
        assert s[f"spectrum_alpha_ols_{mode}"] == pytest.approx(ref.ols_alpha(a[f"spectrum_{mode}"]), rel=1e-9)
    assert s["critical_alpha"] == pytest.approx(1 + 2 / (32 * 32 * 3), rel=1e-12)


def test_sae_grid_is_consistent(run):
    """Iterative (the kernel's planted-dictionary test is in tests/directions/test_sae.py): every
    cell's live fraction is a count over its dictionary, its II is a colour II (within the image
    set's diameter, below 0) exactly where codes live, and the summary names the best cell."""
    a, s = run["a"], run["s"]
    np.testing.assert_array_equal(a["sae_ratios"], [0.5, 1.0, 2.0, 4.0])
    np.testing.assert_array_equal(a["sae_l1"], [1e-3, 1e-2, 1e-1, 1.0])
    sizes = np.round(a["sae_ratios"] * a["acts"].shape[1])[:, None]
    np.testing.assert_allclose(a["sae_alive"] * sizes, np.round(a["sae_alive"] * sizes), atol=1e-9)
    assert ((a["sae_alive"] > 0) == np.isfinite(a["sae_ii"])).all()
    live = a["sae_ii"][np.isfinite(a["sae_ii"])]
    assert (live <= 0).all() and (live >= run["sims"]["colour"].min()).all()
    best = np.unravel_index(np.nanargmax(a["sae_ii"]), a["sae_ii"].shape)
    assert s["sae_best"] == {"ratio": a["sae_ratios"][best[0]], "l1_coeff": a["sae_l1"][best[1]],
                             "mean_ii": pytest.approx(a["sae_ii"][best])}


def test_summary_correlations_are_scipys_on_the_saved_arrays(run):
    a, s = run["a"], run["s"]
    pairs = {"sparsity_vs_ii_neurons": ("sparsity_neurons", "ii_neurons_colour"),
             "sparsity_vs_ii_kmeans": ("sparsity_kmeans", "ii_kmeans_colour"),
             "cross_ii_vs_distance": ("centroid_dist", "cross_ii"),
             "ii_vs_min_gradient": ("ii_kmeans_colour", "grad_min"),
             "synergy_vs_rho": ("synergy_rho", "synergy"),
             "coactivation_vs_ii": ("coactivation", "ii_neurons_colour")}
    a = {k: np.asarray(v, np.float64) for k, v in a.items()}
    for name, (x, y) in pairs.items():
        assert s[name]["pearson"] == pytest.approx(stats.pearsonr(a[x], a[y])[0], abs=1e-9), name
        assert s[name]["spearman"] == pytest.approx(stats.spearmanr(a[x], a[y])[0], abs=1e-9), name
        assert s[name]["n"] == a[x].size
    assert s["synergy_positive_fraction"] == pytest.approx(np.mean(a["synergy"] > 0))
    ii = ref.ii(run["a"]["acts"], run["sims"]["colour"], M, tie=0)[0]
    assert s["ii_vs_max_synergy"]["spearman"] == pytest.approx(stats.spearmanr(ii, a["max_synergy"])[0], abs=1e-6)


def test_psychophysics_tasks_equal_the_kernel(uninterrupted):
    """Hard and soft scores of the task graph equal psychophysics_scores called directly."""
    import jax.numpy as jnp

    from jaxinterp import similarity
    from jaxinterp.recipes.paper import K_PSYCHOPHYSICS, _tasks_that_fit
    from jaxinterp.scores import PsychophysicsScores
    from jaxinterp.scores.psychophysics import psychophysics_scores
    from jaxinterp.steps import key_of

    root, _ = uninterrupted
    arrays = np.load(root / "out" / "arrays.npz")
    labels = np.load(root / "data.npz")["labels"]
    acts = jnp.asarray(arrays["acts"])
    for q_index, q in enumerate(arrays["psy_quantiles"]):
        t = _tasks_that_fit(acts, q)
        if t < 1:
            continue
        res = psychophysics_scores(key_of(0, K_PSYCHOPHYSICS), acts, similarity.label,
                                   similarity.label.featurize(None, jnp.asarray(labels)), float(q), trials=t,
                                   hard_pool="mean")
        assert isinstance(res, PsychophysicsScores) and res.hard_pool == "mean"
        np.testing.assert_array_equal(arrays["psy_neurons_label"][q_index], np.asarray(res.hard))
        np.testing.assert_array_equal(arrays["psy_soft_neurons_label"][q_index], np.asarray(res.soft_mean))
    summary = json.loads((root / "out" / "summary.json").read_text())
    assert "soft score, mean pooling" in summary["psychophysics_scores"]["psy_soft_<set>_<similarity>"]


def test_a_rerun_computes_nothing_and_redraws(uninterrupted, capsys):
    root, args = uninterrupted
    (root / "out" / "fig3_ii.png").unlink()
    capsys.readouterr()
    assert cli.main([*args, "--out", str(root / "out")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["computed"] == 0 and line["reused"] == 33
    assert (root / "out" / "fig3_ii.png").stat().st_size > 0
    manifest = json.loads((root / "out" / "store" / "manifest.json").read_text())
    assert manifest["entries"] == 33 and manifest["failed"] == 0


def test_kill_9_then_resume_is_bit_identical(uninterrupted, tmp_path):
    root, args = uninterrupted
    out = tmp_path / "out"
    command = [sys.executable, "-m", "jaxinterp", *args, "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    done = kill_after_random_entries(command, env, out / "store", 3, 25)
    assert 0 < done < 33
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["computed"] == 33 - done and line["reused"] == done  # only the unfinished tasks
    a, b = np.load(out / "arrays.npz"), np.load(root / "out" / "arrays.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def test_the_store_entries_say_what_they_are(uninterrupted):
    root, _ = uninterrupted
    store = tasks.Store(root / "out" / "store")
    names = sorted({e["name"] for e in store.entries()})
    assert names == ["capture", "coactivation", "directions", "ii", "manifold", "paper",
                     "psychophysics", "sae_cell", "sensitivity", "spectrum", "synergy"]
    capture = next(e for e in store.entries() if e["name"] == "capture")
    assert capture["config"]["layer"] == "relu1" and capture["arrays"]["acts"][0] == [120, 32]
    assert capture["config"]["model"]["arch"] == "small_cnn_rgb"


def test_another_seed_recomputes_exactly_the_random_tasks(uninterrupted, tmp_path):
    """``--seed 1`` recomputes what draws random numbers and what depends on it; not synergy."""
    import shutil

    from jaxinterp import steps
    from jaxinterp.recipes import paper

    root, _ = uninterrupted
    model, data = steps.model_spec("small_cnn_rgb", root / "params"), steps.data_spec(root / "data.npz")
    sims = {"colour": steps.SimilaritySpec("colour"), "label": steps.SimilaritySpec("label")}
    graph = {seed: paper.paper_tasks(model, data, "relu1", sims, k=8, seed=seed) for seed in (0, 1)}
    store = tasks.Store(shutil.copytree(root / "out" / "store", tmp_path / "store"))
    assert all(store.has(t) for t in graph[0].values())  # the graph the command ran
    changed = {n for n in graph[0] if graph[0][n].key != graph[1][n].key}
    random = {"fit_kmeans", "spectrum", *(n for n in graph[0] if n.startswith(("psy_", "sae_")))}
    assert changed == random | {"ii_kmeans_colour", "ii_kmeans_label", "manifold", "sensitivity", "paper"}
    wanted = {n: t for n, t in graph[1].items() if not n.startswith("sae_") and n != "paper"}  # (16 SAE fits)
    _, report = tasks.run(list(wanted.values()), store, load_targets=False)
    names = {t.key: n for n, t in wanted.items()}
    assert {names[t.key] for t in report.executed} == changed & set(wanted)
    assert report.count("synergy") == report.count("capture") == report.count("coactivation") == 0
    again = {seed: paper.paper_tasks(model, data, "relu1", sims, k=8, seed=seed, reproduce=True) for seed in (0, 1)}
    assert all(again[0][n].key == again[1][n].key for n in again[0] if n.startswith("psy_neurons"))  # numpy's draws
