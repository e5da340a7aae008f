"""``jaxinterp compare`` end to end on tiny random models, and on the real ResNet-20 vs ResNet-32 (slow):
its numbers equal universality.compare and the CKA kernels on captures made by another route, it
resumes from its results store, and its report escapes every name the user chose."""

from __future__ import annotations

import collections
import json
import shutil

import jax
import numpy as np
import pytest

from jaxinterp import cli, models, stream, tasks, universality
from jaxinterp.checkpoint import load_variables, save_variables
from jaxinterp.report.universality import report
from tests.conftest import shared_file
from tests.universality import _refs

LAYERS = "relu1,relu2,relu3,fc"
# 4 layers of each model: 2 captures (one pass per model), 8 unit tasks, 4 all-pairs measures,
# 4 matchings, 1 gathering
TASKS = 2 + 8 + 4 + 4 + 1
XSS = "<img src=x onerror=alert(1)>"


def _run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    model = models.get("small_cnn_rgb")
    for seed in (0, 1):
        variables = model.init(jax.random.key(seed), np.zeros((1, 32, 32, 3), np.float32))
        save_variables(root / f"m{seed}", variables, {"arch": "small_cnn_rgb"})
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    np.savez(root / "data.npz", images=images, labels=rng.integers(0, 10, 40))
    return root


def _compare(capsys, root, a, b, out, *extra):
    return _run(capsys, "compare", "--arch", "small_cnn_rgb", "--params", root / a, "--arch", "small_cnn_rgb",
                "--params", root / b, "--data", root / "data.npz", "--out", out, "--layers-a", LAYERS,
                "--layers-b", LAYERS, "--m", 3, "--top-pairs", 2, *extra)


def test_a_model_compared_with_itself_matches_every_unit_to_itself(setup, capsys):
    out = setup / "self"
    code, stdout, err = _compare(capsys, setup, "m0", "m0", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    with np.load(out / "arrays.npz") as z:
        assert universality.MEASURES == ("cka_linear", "cka_rbf", "svcca", "pwcca", "knn")
        for meas in universality.MEASURES:
            np.testing.assert_allclose(np.diag(z[meas]), 1.0, atol=1e-4, err_msg=meas)
        np.testing.assert_array_equal(z["partner_layer"], np.arange(4))
        for i in range(4):
            alive = z[f"L{i}_corr"].diagonal() > 0  # dead units correlate 0 with everything
            np.testing.assert_array_equal(z[f"L{i}_hungarian_partner"][alive], np.flatnonzero(alive))
            np.testing.assert_allclose(z[f"L{i}_best_corr"][alive], 1.0, atol=1e-4)
    assert s["layers_a"] == LAYERS.split(",") and s["n_images"] == 40
    assert s["name_a"] != s["name_b"]  # one arch twice: labelled by checkpoint directory


def test_two_models_write_arrays_summary_figures_and_html(setup, capsys):
    out = setup / "pair"
    code, stdout, err = _compare(capsys, setup, "m0", "m1", out)
    assert code == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["report"].endswith("index.html")
    s = json.loads((out / "summary.json").read_text())
    with np.load(out / "arrays.npz") as z:
        assert z["cka_linear"].shape == (4, 4) and np.all(np.abs(z["cka_linear"]) <= 1 + 1e-5)
        for i, layer in enumerate(s["per_layer"]):
            assert layer["partner"] == s["layers_b"][int(z["cka_linear"][i].argmax())]
            assert layer["best_match_corr"]["median"] == pytest.approx(np.median(z[f"L{i}_best_corr"]))
            assert z[f"L{i}_top_a"].shape[1] == 3 and len(z[f"L{i}_shown"]) == 2
    for stem in ("cka_heatmap", "measures", "depth", "best_match", "matches_00", "ii_matched"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.svg").exists()
    html = (out / "index.html").read_text()
    assert "cka_heatmap.png" in html and "matches_03.png" in html


def test_the_report_reads_only_the_saved_files(setup, capsys):
    src, dst = setup / "pair", setup / "copy"
    if not (src / "summary.json").exists():
        assert _compare(capsys, setup, "m0", "m1", src)[0] == 0
    dst.mkdir()
    for f in ("arrays.npz", "summary.json"):
        shutil.copy(src / f, dst / f)
    assert report(dst).exists() and (dst / "cka_heatmap.svg").exists()
    with pytest.raises(FileNotFoundError, match="no arrays.npz"):
        report(setup / "nowhere")


def test_bad_input_gives_clear_errors(setup, capsys):
    code, _, err = _compare(capsys, setup, "m0", "m1", setup / "x", "--layers-b", "relu1,layer9")
    assert code == 2 and "unknown layer of model B 'layer9'" in err and "relu2" in err and "--layers-b" in err
    code, _, err = _run(capsys, "compare", "--arch", "small_cnn_rgb", "--params", setup / "m0",
                        "--data", setup / "data.npz", "--out", setup / "x")
    assert code == 2 and "exactly two models" in err
    code, _, err = _compare(capsys, setup, "m0", "m1", setup / "x", "--limit", 3)
    assert code == 2 and "at least 4" in err


def _pair(setup, capsys):
    out = setup / "pair"
    if not (out / "summary.json").exists():
        assert _compare(capsys, setup, "m0", "m1", out)[0] == 0
    return out


def _flat(tree, prefix="") -> dict:
    """A JSON tree as {"a/0/b": leaf}."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else None
    if items is None:
        return {prefix: tree}
    return {k: v for key, sub in items for k, v in _flat(sub, f"{prefix}/{key}").items()}


def _store_counts(store) -> collections.Counter:
    return collections.Counter(e["name"] for e in tasks.Store(store).entries())


def test_same_numbers_as_compare_and_captures_as_the_streaming_engine(setup, capsys):
    """The task graph gives what universality.compare gives on the same captures, and those
    captures are what the streaming engine reads (an independent route to the activations)."""
    from jaxinterp import steps
    from jaxinterp.recipes.compare import compare_tasks

    out = _pair(setup, capsys)
    specs = [steps.model_spec("small_cnn_rgb", setup / name) for name in ("m0", "m1")]
    g = compare_tasks(*specs, steps.data_spec(setup / "data.npz"), layers_a=LAYERS.split(","),
                      layers_b=LAYERS.split(","), m=3, top_pairs=2)
    store = tasks.Store(out / "store")
    images = np.load(setup / "data.npz")["images"]
    acts = []
    for side, spec in zip("ab", specs):
        streamed = stream.stream(models.get("small_cnn_rgb"), load_variables(spec.path)[0], images,
                                 LAYERS.split(","), position="mean")
        acts.append({name: store.load(g[f"capture_{side}"]).arrays["acts"][name] for name in streamed})
        for name, want in streamed.items():
            np.testing.assert_allclose(acts[-1][name], want, rtol=1e-5, atol=1e-6, err_msg=name)
    want, summary = universality.compare(*acts, images, m=3, top_pairs=2)
    with np.load(out / "arrays.npz") as z:
        assert sorted(z.files) == sorted(want)
        for name, value in want.items():
            if value.dtype.kind == "f":
                np.testing.assert_allclose(z[name], value, rtol=1e-6, atol=1e-7, equal_nan=True, err_msg=name)
            else:
                np.testing.assert_array_equal(z[name], value, err_msg=name)
    s, ref = _flat(json.loads((out / "summary.json").read_text())), _flat(summary)
    assert set(ref) <= set(s)
    for name, value in ref.items():
        assert s[name] == (pytest.approx(value, rel=1e-6, abs=1e-7, nan_ok=True)
                           if isinstance(value, float) else value), name


def test_a_rerun_computes_nothing_and_redraws_the_report(setup, capsys):
    out = _pair(setup, capsys)
    (out / "index.html").unlink()
    (out / "depth.png").unlink()
    code, stdout, err = _compare(capsys, setup, "m0", "m1", out)
    assert code == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["computed"] == 0 and result["reused"] == TASKS
    assert (out / "index.html").exists() and (out / "depth.png").stat().st_size > 1000


def test_changing_one_option_recomputes_only_what_depends_on_it(setup, capsys):
    out = setup / "options"
    shutil.copytree(_pair(setup, capsys) / "store", out / "store")  # a finished run's store
    store = out / "store"
    for option, value, recomputed in (
        ("--k", 7, {"universality_pairs": 1, "compare": 1}),          # the k-NN measure only
        ("--seed", 1, {"universality_match": 4, "compare": 1}),       # the shuffled-image null
        ("--m", 2, {"universality_units": 8, "universality_match": 4, "compare": 1}),
    ):
        before = _store_counts(store)
        code, stdout, err = _compare(capsys, setup, "m0", "m1", out, option, value, "--no-report")
        assert code == 0, err
        assert json.loads(stdout.strip().splitlines()[-1])["computed"] == sum(recomputed.values())
        assert _store_counts(store) - before == collections.Counter(recomputed), option


def test_an_interrupted_compare_resumes_with_the_unfinished_tasks(setup, capsys, monkeypatch):
    from jaxinterp.recipes import compare as recipe

    out = setup / "interrupted"
    match, calls = recipe._match, []

    def interrupted(*args, **kwargs):  # Ctrl-C while the third matching runs
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return match(*args, **kwargs)

    monkeypatch.setattr(recipe, "_match", interrupted)
    code, _, err = _compare(capsys, setup, "m0", "m1", out, "--no-report")
    assert code == 130 and "rerun the same command to resume" in err
    saved = _store_counts(out / "store")
    assert saved["capture"] == 2 and saved["universality_pairs"] == 4 and saved["universality_match"] == 2
    done = sum(saved.values())
    assert done < TASKS
    monkeypatch.setattr(recipe, "_match", match)
    code, stdout, err = _compare(capsys, setup, "m0", "m1", out, "--no-report")
    assert code == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["computed"] == TASKS - done and result["reused"] == done
    with np.load(out / "arrays.npz") as got, np.load(_pair(setup, capsys) / "arrays.npz") as want:
        assert sorted(got.files) == sorted(want.files)
        for name in want.files:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_names_and_paths_the_user_chose_are_escaped_in_the_report(setup, capsys):
    tagged = setup / XSS
    tagged.mkdir()
    shutil.copytree(setup / "m1", tagged / XSS)
    shutil.copy(setup / "data.npz", tagged / "data.npz")
    out = setup / "escaped"
    code, _, err = _run(capsys, "compare", "--arch", "small_cnn_rgb", "--params", setup / "m0", "--arch",
                        "small_cnn_rgb", "--params", tagged / XSS, "--data", tagged / "data.npz", "--out", out,
                        "--layers-a", "relu1,fc", "--layers-b", "relu1,fc", "--m", 2, "--top-pairs", 1)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["name_b"] == f"small_cnn_rgb ({XSS})" and XSS in s["data"]
    page = (out / "index.html").read_text()
    assert "<img src=x" not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 2  # model B and the data path
    for svg in out.glob("*.svg"):
        assert "<img" not in svg.read_text(), svg.name


def test_params_may_be_pytorch_checkpoint_files(setup, capsys):
    torch = pytest.importorskip("torch")
    from tests.models import torch_refs

    for seed in (1, 2):
        torch.save(torch_refs.build("cifar_resnet20", seed=seed).state_dict(), setup / f"r20_{seed}.th")
    out = setup / "torch"
    code, stdout, err = _run(capsys, "compare", "--arch", "cifar_resnet20", "--params", setup / "r20_1.th",
                             "--arch", "cifar_resnet20", "--params", setup / "r20_2.th", "--data",
                             setup / "data.npz", "--out", out, "--layers-a", "layer1,layer3",
                             "--layers-b", "layer1,layer3", "--limit", 16, "--m", 2, "--top-pairs", 1,
                             "--no-report")
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["name_a"] == "cifar_resnet20 (r20_1.th)" and s["n_images"] == 16


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The compare command on the real ResNet-20 vs ResNet-32, their .th files as --params."""
    root = tmp_path_factory.mktemp("real")
    data = shared_file("cifar10/test_first932.npz")
    params = [shared_file("models/resnet20-12fca82f.th"), shared_file("models/resnet32-d509ac18.th")]
    argv = ["compare", "--arch", "cifar_resnet20", "--params", params[0], "--arch", "cifar_resnet32",
            "--params", params[1], "--data", data, "--out", root / "out", "--limit", 200, "--top-pairs", 2]
    assert cli.main([str(a) for a in argv]) == 0
    return root / "out", argv, data, params


@pytest.mark.slow
def test_real_resnet20_vs_resnet32(real):
    out = real[0]
    s = json.loads((out / "summary.json").read_text())
    assert s["n_images"] == 200 and len(s["layers_a"]) == 11 and len(s["layers_b"]) == 17
    with np.load(out / "arrays.npz") as z:
        cka = z["cka_linear"]
    # the stage outputs of the two independently trained nets are alike, and their units match
    # far better than chance (images of B shuffled)
    for p in s["per_layer"]:
        assert p["cka_linear_at_partner"] > 0.6, p["layer"]
        assert p["best_match_corr"]["median"] > p["null_best_corr"]["median"] + 0.2, p["layer"]
    names_b = s["layers_b"]
    assert cka[s["layers_a"].index("layer1.0"), names_b.index("layer1.0")] > \
        cka[s["layers_a"].index("layer1.0"), names_b.index("layer3.4")]
    assert (out / "index.html").exists()


@pytest.mark.slow
def test_real_cka_equals_the_kernels_on_captures_and_a_rerun_computes_nothing(real, capsys):
    """Independent route: the .th files converted here, the layers read by the streaming engine, CKA
    by the kernel called directly and by Kornblith et al.'s numpy code in float64 (tests/universality/
    _refs.py). RBF CKA is held to 1e-4: its float32 kernel differs from float64 by up to 3.3e-5 here (AMD EPYC):
    on these layers it is 2e-5 from float64 whichever route made the activations."""
    from converters import convert

    out, argv, data, params = real
    s = json.loads((out / "summary.json").read_text())
    images = np.load(data)["images"][:200]
    acts = [stream.stream(models.get(arch), convert(path, arch), images, names, position="mean")
            for arch, path, names in zip(("cifar_resnet20", "cifar_resnet32"), params, (s["layers_a"], s["layers_b"]))]

    def reference(gram):
        return np.array([[_refs.cka(gram(x.astype(np.float64)), gram(y.astype(np.float64)), True)
                          for y in acts[1].values()] for x in acts[0].values()])

    with np.load(out / "arrays.npz") as z:
        np.testing.assert_allclose(z["cka_linear"], universality.cka_all_pairs(*acts, "linear"), rtol=0, atol=1e-6)
        np.testing.assert_allclose(z["cka_linear"], reference(_refs.gram_linear), rtol=0, atol=1e-6)
        np.testing.assert_allclose(z["cka_rbf"], reference(_refs.gram_rbf), rtol=0, atol=1e-4)
    capsys.readouterr()
    assert cli.main([str(a) for a in argv] + ["--no-report"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["computed"] == 0 and result["reused"] == 2 + (11 + 17) + 4 + 11 + 1
