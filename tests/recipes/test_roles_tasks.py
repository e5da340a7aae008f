"""`roles` as a graph of tasks: every column of the table against an independent reference,
reuse, and up-front checks.

The tiny run (tests/fixtures.py: random small_cnn, 48 random 8x8 images, layer relu2, the
pixel level) is recomputed with numpy, scipy, scikit-learn and torch (tests/_refs.py): the
layer in torch from the saved weights, the design and targets gathered by hand at the run's
position draws, ridge by normal equations, Jacobians and saliency by torch autograd, the
estimators from their formulas. The draws follow the recipe's key paths (module docstring of
jaxinterp.recipes.roles). The MLP ceiling is iterative and checked by properties.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from sklearn.feature_selection._mutual_info import (
    _compute_mi_cd,  # the Ross estimator, without noise
)

from jaxinterp import cli
from tests import _refs as ref

N_IMAGES, SAMPLES, WINDOW, STRIDE, OUT = 48, 300, 5, 2, 4  # relu2 of small_cnn: 4x4 maps, 5x5 pixel field
LAMBDAS = [10.0**e for e in range(-4, 5)]


@pytest.fixture(scope="module")
def ran(roles_run):
    return roles_run.root, roles_run.args


@pytest.fixture(scope="module")
def table(roles_run):
    """The gathered table (full precision, from the store), the data and the capture."""
    cols = roles_run.summary("roles")
    data = np.load(roles_run.root / "data.npz")
    return {"t": {c: roles_run.stored("roles", f"table/{c}") for c in cols["columns"]}, "summary": cols,
            "images": data["images"], "labels": data["labels"], "acts": roles_run.stored("capture", "acts"),
            "root": roles_run.root, "out": roles_run.out}


@pytest.fixture(scope="module")
def torch_layer(table):
    """relu2 of the saved network in torch (float64): f(x01 [n, 8, 8, 1]) -> [n, 64, 4, 4]."""
    torch = pytest.importorskip("torch")
    from jaxinterp import load_variables, models

    model = models.get("small_cnn")
    blocks = ref.torch_small_cnn(load_variables(table["root"] / "params")[0], model.MEAN, model.STD)
    return torch, (lambda x: blocks(x, 2)[1]), model.STD[0]


def _draws():
    """The recipe's draws for its one level: key(0) split in three (carry, positions, measures);
    positions without replacement over (image, h, w); the measures key split in three (fit/test
    split, MLP, sub-sample); saliency's random images from the carried key."""
    carry, k_pos, k_meas = jax.random.split(jax.random.key(0), 3)
    flat = np.asarray(jax.random.choice(k_pos, N_IMAGES * OUT * OUT, (SAMPLES,), replace=False))
    img, rest = np.divmod(flat, OUT * OUT)
    k_split, _, k_sub = jax.random.split(k_meas, 3)
    perm = np.asarray(jax.random.permutation(k_split, SAMPLES))
    return {"positions": np.stack([img, *np.divmod(rest, OUT)], 1), "fit": perm[:240], "test": perm[240:],
            "sub": np.asarray(jax.random.permutation(k_sub, SAMPLES)),
            "random_images": np.asarray(jax.random.choice(carry, N_IMAGES, (8,), replace=False))}


def test_activations_ii_and_label_information(table, torch_layer):
    torch, layer, _ = torch_layer
    t, acts, labels = table["t"], table["acts"], table["labels"]
    np.testing.assert_allclose(acts, layer(torch.tensor(table["images"] / 255.0)).mean((2, 3)).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(t["neuron"], np.arange(64))
    for name, sim in (("colour", ref.colour_matrix(table["images"])), ("label", ref.label_matrix(labels))):
        np.testing.assert_allclose(t[f"ii_{name}"], ref.ii(acts, sim, 5, tie=0)[0], rtol=1e-5, atol=1e-7)
    mi_knn = [max(_compute_mi_cd(acts[:, n].astype(float), labels, 3), 0.0) for n in range(64)]
    np.testing.assert_allclose(t["mi_knn"], mi_knn, atol=1e-5)
    np.testing.assert_allclose(t["mi_binned"], [ref.mi_binned(acts[:, n], labels) for n in range(64)], atol=1e-5)
    for kind in ("binned", "knn"):
        np.testing.assert_allclose(t[f"nmi_{kind}"], t[f"mi_{kind}"] / np.log(3), rtol=1e-6)
    np.testing.assert_allclose(t["image.h_mix"], [ref.mixed_entropy(acts[:, n])[0] for n in range(64)], atol=1e-4)


def test_pixel_level_measures(table, torch_layer):
    torch, layer, std = torch_layer
    t, d = table["t"], _draws()
    img, hh, ww = d["positions"].T
    x01 = torch.tensor(table["images"] / 255.0)
    # design: the normalised image's 5x5 window centred on input (2h, 2w), zero outside; targets
    padded = np.pad((table["images"][..., 0] / 255.0 - 0.5) / std, ((0, 0), (2, 2), (2, 2)))
    x = np.stack([padded[i, STRIDE * h:STRIDE * h + WINDOW, STRIDE * w:STRIDE * w + WINDOW].ravel()
                  for i, h, w in d["positions"]])
    y = layer(x01).permute(0, 2, 3, 1).numpy()[img, hh, ww]  # [300, 64]

    lambdas, cv, r2 = ref.ridge_cv(x[d["fit"]], y[d["fit"]], x[d["test"]], y[d["test"]], LAMBDAS)
    chosen = np.array([np.argmin(np.abs(lambdas - lam)) for lam in t["pixels.lambda"]])
    np.testing.assert_allclose(t["pixels.lambda"], lambdas[chosen], rtol=1e-5)
    cols = np.arange(64)
    # λ minimises the CV error (up to float32 near-ties between penalties)
    assert (cv[chosen, cols] <= cv.min(0) * (1 + 1e-4) + 1e-9).all()
    np.testing.assert_allclose(t["pixels.r2_lin"], r2[chosen, cols], atol=1e-5)
    # the MLP ceiling (iterative): starts at the ridge fit and early-stops on validation, so on
    # the held-out set it stays near R²_lin, and it cannot beat a perfect fit
    lin, nl = t["pixels.r2_lin"], t["pixels.r2_nl"]
    assert (nl <= 1).all() and (nl >= lin - 0.1).all() and nl.mean() >= lin.mean() - 0.01
    top = np.maximum(lin, nl)
    np.testing.assert_allclose(t["pixels.lf"], np.where(top > 0, lin / np.where(top > 0, top, 1), np.nan), rtol=1e-6)

    # one backward pass per neuron for all 16 samples: each output reads only its own image
    i, h, w = d["positions"][d["sub"][:16]].T
    g = torch.func.jacrev(lambda a: layer(a)[np.arange(16), :, h, w].sum(0))(x01[i])[..., 0].numpy()
    g = np.pad(g * std, ((0, 0), (0, 0), (2, 2), (2, 2)))  # per normalised pixel: d x01 = std · d x
    jac = np.stack([g[:, s, STRIDE * h[s]:STRIDE * h[s] + WINDOW, STRIDE * w[s]:STRIDE * w[s] + WINDOW]
                    for s in range(16)]).reshape(16, 64, -1)
    stats = [ref.jacobian_stats(jac[:, n]) for n in range(64)]
    for k in ("sensitivity", "consistency", "effective_dim", "axis_focus"):
        np.testing.assert_allclose(t[f"pixels.{k}"], [s[k] for s in stats], rtol=1e-4, atol=1e-7, err_msg=k)
    diag = np.stack([(jac[:, n] ** 2).mean(0) for n in range(64)])
    top2 = np.sort(diag, 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4 * top2[:, 1]  # argmax of a near-tie is float noise
    np.testing.assert_array_equal(t["pixels.focus_index"][clear], [s["focus_index"] for s in np.array(stats)[clear]])

    ks = d["sub"][:100]
    u, sv, _ = np.linalg.svd(x[ks] - x[ks].mean(0), full_matrices=False)
    pcs = u[:, :10] * sv[:10]
    mi = np.array([[ref.mi_ksg(y[ks, n], pcs[:, j]) for j in range(10)] for n in range(64)])
    # strict "closer than ε" counts over 100 samples: one flipped count moves a term by ~1e-3
    np.testing.assert_allclose(t["pixels.mi_pc_max"], mi.max(1), atol=5e-3)
    np.testing.assert_allclose(t["pixels.mi_pc_sum"], mi.sum(1), atol=2e-2)
    mixed = np.array([ref.mixed_entropy(y[:, n]) for n in range(64)])
    for j, k in enumerate(("h_mix", "p0", "h_pos")):
        np.testing.assert_allclose(t[f"pixels.{k}"], mixed[:, j], atol=1e-4, err_msg=k)
    np.testing.assert_allclose(t["pixels.h_binned"], [ref.binned_entropy(y[:, n]) for n in range(64)], atol=1e-4)


def test_saliency_concentration(table, torch_layer):
    """κ of max_c |∂(channel mean)/∂x| over the normalised input, at each neuron's top-5 images
    and at the run's random images."""
    torch, layer, std = torch_layer
    t = table["t"]
    x01 = torch.tensor(table["images"] / 255.0)
    top, _ = ref.top_m_all(table["acts"], 5, tie=0)
    wanted = np.unique(np.concatenate([top.ravel(), _draws()["random_images"]]))
    g = torch.func.jacrev(lambda a: layer(a).mean((2, 3)).sum(0))(x01[wanted]).numpy() * std
    kappa = {i: [ref.concentration(np.abs(g[n, j]).max(-1)) for n in range(64)] for j, i in enumerate(wanted)}
    np.testing.assert_allclose(t["saliency_kappa_top"], [np.mean([kappa[i][n] for i in top[n]]) for n in range(64)],
                               atol=1e-5)
    np.testing.assert_allclose(t["saliency_kappa_random"],
                               np.mean([kappa[i] for i in _draws()["random_images"]], 0), atol=1e-5)


def test_roles_and_correlations_follow_from_the_table(table):
    """Role labels by the stated rule (median halves of this layer), and every correlation is
    scipy's Spearman ρ of a column with the II over the finite pairs."""
    from scipy.stats import spearmanr

    t, summary = table["t"], table["summary"]
    lf, h, focus, ii = t["pixels.lf"], t["pixels.h_mix"], t["pixels.axis_focus"], t["ii_colour"]
    for n in range(64):
        rep = lf[n] >= np.nanmedian(lf) and h[n] <= np.nanmedian(h) and ii[n] >= np.nanmedian(ii)
        trans = lf[n] < np.nanmedian(lf) and h[n] > np.nanmedian(h)
        want = [r for r, on in (("representational", rep), ("transforming", trans),
                                ("pass-along", focus[n] > 0.5)) if on]
        assert summary["roles"][n] == ("+".join(want) or "unlabelled"), n
    from jaxinterp.neurons import EXPLORATORY_NOTE

    assert EXPLORATORY_NOTE in summary["notes"][2]  # the labels say they are a hypothesis
    by_measure = summary["correlations"]["by_measure"]
    assert set(by_measure) == {c for c in t if c != "neuron" and not c.startswith("ii_")}
    for measure, by_sim in by_measure.items():
        for sim, got in by_sim.items():
            x, y = np.asarray(t[measure], float), np.asarray(t[f"ii_{sim}"], float)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() < 3 or np.ptp(x[ok]) == 0:
                assert got is None, (measure, sim)
                continue
            assert got["n"] == ok.sum() and got["rho"] == pytest.approx(spearmanr(x[ok], y[ok])[0], abs=1e-9)


def test_a_rerun_only_redraws(ran, capsys):
    root, args = ran
    capsys.readouterr()
    assert cli.main([*args, "--out", str(root / "out")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["computed"] == 0 and line["reused"] == 8


def test_bad_levels_fail_before_any_work(ran, capsys, tmp_path):
    root, args = ran
    bad = [a if a != "pixels" else "pixels,bogus" for a in args]
    assert cli.main([*bad, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown level(s) ['bogus']" in err and "immediate, window, pixels" in err
    assert not (tmp_path / "o").exists()  # nothing was started


def test_the_gathered_statistics_are_scipys_and_the_definitions():
    """What the report draws is computed here: Spearman ρ, p and the Holm / BH adjustments of every
    test (scipy), and the neurons at each end of a measure (NaN counted as the median)."""
    from scipy import stats

    from jaxinterp.recipes.roles import extreme_neurons, spearman_table

    rng = np.random.default_rng(4)
    ii = rng.normal(size=30)
    table = {"neuron": np.arange(30), "a.lf": np.round(ii + rng.normal(size=30), 1),
             "b.p0": rng.normal(size=30), "flat": np.ones(30), "ii_colour": ii}
    table["b.p0"][[1, 5]] = np.nan
    got = spearman_table(table, {"colour": "ii_colour"})
    assert set(got) == {"a.lf", "b.p0", "flat"} and got["flat"]["colour"] is None
    p = []
    for name in ("a.lf", "b.p0"):
        ok = np.isfinite(table[name])
        rho, pv = stats.spearmanr(table[name][ok], ii[ok])
        v = got[name]["colour"]
        assert v["n"] == ok.sum() and v["rho"] == pytest.approx(rho, abs=1e-12)
        assert v["p"] == pytest.approx(pv, rel=1e-9)
        p.append(pv)
    bh = stats.false_discovery_control(p, method="bh")
    holm = np.minimum(1, np.maximum.accumulate(np.sort(p) * [2, 1]))[np.argsort(np.argsort(p))]
    for name, h, q in zip(("a.lf", "b.p0"), holm, bh):
        assert got[name]["colour"]["p_holm"] == pytest.approx(h, rel=1e-12)
        assert got[name]["colour"]["q_bh"] == pytest.approx(q, rel=1e-12)

    values = np.array([3.0, np.nan, -1.0, 7.0, 0.5, 2.0])  # NaN sits at the median, 2.0
    np.testing.assert_array_equal(extreme_neurons(values), [[2, 4], [3, 0]])


@pytest.mark.parametrize("arch, layer", [("cifar_resnet20", "layer1"), ("cifar_resnet20", "layer2"),
                                         ("cifar_resnet20", "layer3"), ("cifar_resnet20", "relu"),
                                         ("small_cnn_rgb", "relu2")])
def test_stage_levels_predicate_agrees_with_resnet_levels(arch, layer):
    """``has_stage_levels`` (the layer graph only) says True exactly where ``resnet_levels`` builds
    the immediate and window levels on real images, False where it refuses."""
    from jaxinterp import neurons, steps
    from jaxinterp.recipes.roles import has_stage_levels

    model, variables = steps.load_model(steps.model_spec(arch, "random:0"))
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    try:
        built = set(neurons.resnet_levels(model, variables, images, layer, levels=["immediate", "window"])[0])
    except ValueError:
        built = set()
    assert has_stage_levels(model, variables, layer, (32, 32, 3)) == (built == {"immediate", "window"})
    assert has_stage_levels(model, variables, layer, (32, 32, 3)) == (layer == "layer1")


def test_the_graph_is_built_without_decoding_the_data(tmp_path, monkeypatch):
    """roles_tasks checks the levels on the layer graph: no image is decoded (a whole dataset was,
    for a check on two images); a window level on a layer that has none is refused by name."""
    from jaxinterp import steps
    from jaxinterp.data import checks
    from jaxinterp.recipes import roles

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, 12))
    data = steps.data_spec(tmp_path / "d.npz")

    def whole(*args, **kwargs):
        raise AssertionError("the whole dataset was decoded")

    monkeypatch.setattr(checks, "check_images", whole)  # what load_data runs on every dataset it holds
    resnet = steps.model_spec("cifar_resnet20", "random:0")
    g = roles.roles_tasks(resnet, data, "layer1", levels=("immediate", "window"))
    assert g["saliency"].config.structured and {"level_immediate", "level_window", "ii_label"} <= set(g)
    g = roles.roles_tasks(resnet, data, "layer2", levels=("pixels",))
    assert not g["saliency"].config.structured
    with pytest.raises(ValueError, match="'layer2' is not a ResNet stage .* Pass --levels pixels"):
        roles.roles_tasks(resnet, data, "layer2", levels=("window", "pixels"))
