"""`jaxinterp circuits` end to end on a tiny random CNN: the pages exist, their numbers are the
kernels' numbers called directly, a rerun computes nothing, bad input fails in one line; and on a
random network of ResNet-56 depth (fields wider than the image) it runs to completion."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from jaxinterp import cli, door, steps
from jaxinterp.circuits import equivariance, examples, expanded, selectivity, tuning

UNITS = (1, 4)
ARGS = ["circuits", "--arch", "small_cnn_rgb", "--params", "random:0", "--layer", "relu2", "--units", "1,4",
        "--steps", "2", "--rotation-step", "45", "--exemplars", "3", "--top", "3", "--quilt", "4",
        "--connections", "3", "--families", "2", "--permutations", "8"]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    root = tmp_path_factory.mktemp("circuits")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    np.savez(root / "data.npz", images=images, labels=rng.integers(0, 10, 16))
    args = [*ARGS, "--data", str(root / "data.npz"), "--out", str(root / "out")]
    assert cli.main(args) == 0
    return root, args, images.astype(np.float32) / 255


def numbers(page: str) -> dict[str, str]:
    """The "Numbers" table of a unit page: {quantity: value text}."""
    rows = re.findall(r"<tr><td class=text>(.*?)</td><td[^>]*>(.*?)</td></tr>", page)
    return {k: v for k, v in rows}


def test_pages_exist_and_show_the_kernels_numbers(ran):
    root, _, images = ran
    out = root / "out"
    assert (out / "index.html").is_file() and (out / "relu2.html").is_file()
    pages = [p for p in out.rglob("*.html") if "store" not in p.parts]
    assert len(pages) == 4 and all("RANDOM WEIGHTS" in p.read_text() for p in pages)  # random:0, said everywhere
    model, variables = steps.load_model(steps.model_spec("small_cnn_rgb", "random:0"))
    top = examples.top_positions(model, variables, "relu2", images, k=3, units=UNITS)
    pre = np.asarray(examples.preactivations(model, variables, "relu2", images, units=UNITS, position="all"))
    fires = (pre > 0).mean(axis=(0, 1, 2))                                   # numpy over every position
    mean, sd = tuning.activation_stats(model, variables, "relu2", images)
    rf = door.receptive_field(model, variables, "relu2", (32, 32, 3))
    centred = examples.recentre(images, top.image, top.y, top.x, rf)
    angles = np.arange(0.0, 360.0, 45.0)
    curves = examples.exemplar_rotation_tuning(model, variables, "relu2", centred, angles, UNITS, stats=(mean, sd))
    vs = selectivity.orientation_selectivity(np.asarray(curves).T, angles)["vector_strength"]
    for j, u in enumerate(UNITS):
        page = (out / "units" / f"relu2_{u}.html").read_text()
        for n in range(1, 7):
            assert f"Fig. {n}." in page
        got = numbers(page)
        assert float(got["top dataset activation"]) == pytest.approx(float(top.value[j, 0]), rel=1e-3)
        assert float(got["fires (pre &gt; 0)"].rstrip("%")) == pytest.approx(100 * float(fires[j]), abs=0.06)
        assert float(got["rotation: vector strength"]) == pytest.approx(float(vs[j]), rel=1e-3, abs=1e-4)
        assert got["receptive field (px)"] == f"{rf.size[0]}×{rf.size[1]}, stride {rf.stride[0]}"
        for name in ("featvis", "examples", "synthetic", "rotation", "weights_in", "weights_out"):
            assert (out / "figures" / f"relu2_{u}_{name}.png").is_file()
            assert (out / "figures" / f"relu2_{u}_{name}.svg").is_file()
    # the layer's equivariance R²: orientations from synthetic curves, weights from relu1 -> relu2
    orient = np.arange(0.0, 360.0, 5.0)
    grid = {"orientation": orient, "radius": [2.0, 4.0, 8.0, 16.0, 32.0], "length": 8.0}
    stats_up = tuning.activation_stats(model, variables, "relu1", images)
    theta = tuning.preferred_orientation(np.asarray(tuning.stimulus_tuning(
        model, variables, "relu2", "curve", 32, stats=(mean, sd), **grid))[:, :, 0].max(1).T, orient)
    phi = tuning.preferred_orientation(np.asarray(tuning.stimulus_tuning(
        model, variables, "relu1", "curve", 32, stats=stats_up, **grid))[:, :, 0].max(1).T, orient)
    w = expanded.connection_matrix(expanded.expanded_weights(model, variables, "relu1", "relu2", (32, 32, 3)))
    r2 = float(equivariance.binned_fit(w, phi, theta)["r2"])
    saved = json.loads((out / "summary.json").read_text())["relu2"]["equivariance"]
    assert saved["r2"] == pytest.approx(r2, rel=1e-4, abs=1e-6)
    assert f"R² = {r2:.3f}" in (out / "relu2.html").read_text()


def test_a_rerun_computes_nothing(ran, capsys):
    root, args, _ = ran
    capsys.readouterr()
    assert cli.main(args) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["computed"] == 0 and line["reused"] > 8


def test_bad_input_is_one_line_before_any_work(ran, capsys, tmp_path):
    root, args, _ = ran

    def fails(change: dict, message: str):
        bad = list(args)
        for flag, value in change.items():
            bad[bad.index(flag) + 1] = value
        bad[bad.index("--out") + 1] = str(tmp_path / "o")
        assert cli.main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "o").exists()

    fails({"--units": "1,64"}, "layer 'relu2' has 64 channels (valid 0..63)")
    fails({"--layer": "relu9"}, "unknown layer 'relu9'")
    fails({"--units": "3:1"}, "empty, negative or repeats")
    fails({"--layer": "fc"}, "needs a layer with spatial axes")
    bad = [*args, "--upstream", "relu3"]
    bad[bad.index("--out") + 1] = str(tmp_path / "o")
    assert cli.main(bad) == 2
    assert "wrong order" in capsys.readouterr().err


def test_class_names_go_to_a_classifier_downstream_only():
    """Weights out to the classifier are named by class: the registry's names (CIFAR-10's for the
    CIFAR models, ImageNet's for torchvision's), None (the page's "class i") for another width."""
    from jaxinterp import models
    from jaxinterp.data.cifar10 import CLASS_NAMES
    from jaxinterp.recipes.circuits import class_names, is_classifier

    assert class_names("cifar_resnet20", 10) == list(CLASS_NAMES)
    imagenet = class_names("googlenet", 1000)
    assert imagenet[0] == "tench" and len(imagenet) == 1000 and imagenet == class_names("resnet18", 1000)
    assert class_names("cifar_resnet20", 64) is None and class_names("googlenet", 10) is None
    model = models.get("cifar_resnet20")
    g = door.graph(model, models.init(model, __import__("jax").random.key(0)), (32, 32, 3))
    assert is_classifier(g, "linear") and is_classifier(g, "logits")
    assert not is_classifier(g, "layer3") and not is_classifier(g, "layer3.2")


def test_unit_pages_show_diverse_negative_and_least_activating_examples(ran):
    """Beside the unit's visualisation: 4 diverse and a negative one; beside its top crops: the
    minimally activating images (their values: the kernel's bottom-k, lowest pre-ReLU anywhere)."""
    root, _, images = ran
    model, variables = steps.load_model(steps.model_spec("small_cnn_rgb", "random:0"))
    got = examples.layer_examples(model, variables, "relu2", images, k=3, units=UNITS)
    for j, u in enumerate(UNITS):
        page = (root / "out" / "units" / f"relu2_{u}.html").read_text()
        for part in ("featvis_diverse", "featvis_negative", "top", "bottom", "quilt"):
            assert f"figures/relu2_{u}_{part}.png" in page, part
        shown = re.search(r"Least activating: .*?cropped there: (.*?)\.</figcaption>", page).group(1)
        assert shown.replace("\u2212", "-") == ", ".join(f"{v:.2g}" for v in got.bottom.value[j])


def test_only_the_upstream_units_beside_weights_in_are_rendered(ran):
    """The upstream render covers each chosen unit's top sources (in_idx), not the whole upstream
    layer (480 channels of a 224-px Inception block took most of an hour on a CPU)."""
    from tests.fixtures import Run

    root, _, _ = ran
    run = Run(root, [], root / "out")
    in_idx = run.stored("circuits_weights", "in_idx")
    rendered = run.stored("featvis_thumbs", "units", side="in")
    assert sorted(set(rendered.tolist())) == sorted(set(in_idx[list(UNITS)].ravel().tolist()))
    assert len(set(rendered.tolist())) <= len(UNITS) * 3 < 16  # --connections 3; relu1 has 16 channels


def test_an_inception_block_is_the_default_neighbour():
    """Upstream of inception4a is the block before it (inception3b), not the last layer ending in
    one ReLU (conv3, three blocks back); downstream the next block; after the last, the logits."""
    import jax

    from jaxinterp import models
    from jaxinterp.recipes.circuits import neighbours

    model = models.get("googlenet")
    shapes = jax.eval_shape(lambda k: models.init(model, k), jax.random.key(0))
    zeros = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    assert neighbours(model, zeros, "inception4a", (224, 224, 3)) == ("inception3b", "inception4b")
    assert neighbours(model, zeros, "conv3", (224, 224, 3))[0] == "conv2"
    assert neighbours(model, zeros, "inception5b", (224, 224, 3))[1] == "logits"  # not avgpool's 1x1 maps


def test_resnet56_depth_runs_to_completion_and_bad_units_fail_first(tmp_path, capsys):
    """ResNet-56's layer2 and layer3 have receptive fields far wider than the 32-px image (the old
    measurement divided by a zero stride after minutes of work): every task now completes; a bad
    unit range is refused by the command before any task (or the store) exists."""
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "data.npz", images=rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, 5))
    args = ["circuits", "--arch", "cifar_resnet56", "--params", "random:0", "--data", str(tmp_path / "data.npz"),
            "--layer", "layer2", "--layer", "layer3", "--units", "0,1", "--steps", "1", "--rotation-step", "90",
            "--exemplars", "2", "--top", "2", "--quilt", "2", "--connections", "2", "--families", "2",
            "--permutations", "2"]
    bad = [*args, "--out", str(tmp_path / "bad")]
    bad[bad.index("--units") + 1] = "0,32"
    assert cli.main(bad) == 2
    assert "unit(s) [32] out of range: layer 'layer2' has 32 channels" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert cli.main([*args, "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary) == {"layer2", "layer3"}
    for layer in ("layer2", "layer3"):
        assert (tmp_path / "out" / "units" / f"{layer}_1.html").is_file()


def test_the_thumbnails_share_the_renders_colour_matrix(ran):
    """Every render of a circuits graph (the units', upstream and downstream thumbnails) reads
    one colour-matrix task, computed once from the data; no thumbnail computes its own."""
    from jaxinterp import steps
    from jaxinterp.cli import build_parser
    from jaxinterp.commands._data import data_spec
    from jaxinterp.recipes.circuits import circuits_tasks

    root, _, _ = ran
    data = data_spec(build_parser().parse_args([*ARGS, "--data", str(root / "data.npz"), "--out", "o"]),
                     "small_cnn_rgb")
    g = circuits_tasks(steps.model_spec("small_cnn_rgb", "random:0"), data, "relu2", UNITS)
    colour = {g[name].deps["color"].key for name in ("featvis_up", "thumbs")}
    colour |= {t.deps["color"].key for t in g["featvis"].deps.values() if "color" in t.deps}
    assert len(colour) == 1 and g["thumbs"].deps["color"].name == "color_matrix"
