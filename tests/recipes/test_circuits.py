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


# ---- the same unit pages for learned directions: the layer's maps projected on each row

CHANNELS = (1, 4, 9)           # the neurons' chosen units
PLANT = (1, 0.7, 4, -1.3)      # row 2 of the planted fit: 0.7·e_1 − 1.3·e_4
ROWS = (((9, 1.0),), ((1, 1.0),), ((PLANT[0], PLANT[1]), (PLANT[2], PLANT[3])), ((4, 1.0),))
AS_CHANNEL = {0: 9, 1: 1, 3: 4}  # the one-hot rows (a subset of the channels, out of order)


def _planted(ctx, c):
    """A fit's result whose directions are ``c = (width, rows)``: rows of (channel, weight) pairs."""
    from jaxinterp.tasks import Result

    width, rows = c
    d = np.zeros((len(rows), width), np.float32)
    for r, pairs in enumerate(rows):
        for ch, w in pairs:
            d[r, ch] = w
    return Result({"directions": d}, {})


@pytest.fixture(scope="module")
def directions_run(tmp_path_factory):
    """The neurons' tasks and the same tasks over a planted fit (one-hot rows and 0.7·e_1 − 1.3·e_4)
    and over a K-means fit, run by the runner (the fit reaches the tasks as their "directions")."""
    from jaxinterp import tasks
    from jaxinterp.recipes import circuits as circ

    root = tmp_path_factory.mktemp("circuits_directions")
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    np.savez(root / "data.npz", images=images)
    model, data = steps.model_spec("small_cnn_rgb", "random:0"), steps.data_spec(root / "data.npz")
    opts = {"top": 3, "exemplars": 3, "quilt": 4, "rotation_step": 90.0}
    planted = tasks.Task("directions", (64, ROWS), _planted)
    kmeans = steps.fit_task(steps.capture_task(model, data, "relu2"), "kmeans", k=3)
    graphs = {"neurons": circ.unit_tasks(model, data, "relu2", CHANNELS, **opts),
              "planted": circ.unit_tasks(model, data, "relu2", range(4), planted, **opts),
              "kmeans": {"examples": circ.unit_tasks(model, data, "relu2", (0, 2), kmeans, **opts)["examples"],
                         "fit": kmeans}}
    wanted = [t for g in graphs.values() for t in g.values()]
    got, _ = tasks.run(wanted, tasks.Store(root / "store"))
    results = {name: {k: got[t.key] for k, t in g.items()} for name, g in graphs.items()}
    return results, model, images.astype(np.float32) / 255


def _maps(model, images):
    """relu2's output maps [n, h, w, 64] by Flax's own forward (not through the door)."""
    import jax.numpy as jnp

    from tests.flax_reference import forward

    net, variables = steps.load_model(model)
    return np.asarray(forward(net, variables, net.normalize(jnp.asarray(images)), ["relu2"])[1]["relu2"], np.float64)


def test_one_hot_directions_are_the_channels(directions_run):
    """Rows e_9, e_1, e_4 of a fit give every per-unit array of channels 9, 1, 4: the top images and
    their positions, the centre statistics, the crops and the quilt, the stimulus responses (in SD)
    and the rotation curves of their own exemplars."""
    results, _, _ = directions_run
    n, d = results["neurons"], results["planted"]
    rows, chans = list(AS_CHANNEL), list(AS_CHANNEL.values())
    chosen = [CHANNELS.index(c) for c in chans]                     # their places among the neurons' chosen
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # noqa: E731
    ne, de = n["examples"].arrays, d["examples"].arrays
    for name in ("top_value", "top_image", "top_y", "top_x", "stats_mean", "stats_sd"):
        close(de[name][rows], ne[name][chans])
    for name in ("top_crops", "quilt_image", "quilt_value", "quilt_crops"):
        close(de[name][rows], ne[name][chosen])
    assert de["top_value"].shape == (4, 3) and d["examples"].summary["directions"] == 4
    for family, grid in n["stimuli"].arrays.items():
        close(d["stimuli"].arrays[family]["responses"][..., rows], grid["responses"][..., chans])
    nr, dr = n["rotation"].arrays, d["rotation"].arrays
    close(dr["curves"][:, rows], nr["curves"][:, chosen])
    close(dr["vector_strength"][rows], nr["vector_strength"][chosen])
    assert dr["units"].tolist() == [0, 1, 2, 3]


def test_a_planted_direction_is_the_projection_of_the_maps(directions_run):
    """Row 0.7·e_1 − 1.3·e_4: its top images and values, centre statistics, quilt, least activating
    images and distribution are numpy's projection of the layer's maps; its stimulus and rotation
    responses are 0.7·r_1 − 1.3·r_4 of the channels' raw responses, in the direction's own SD."""
    from jaxinterp.circuits import examples as ex
    from jaxinterp.recipes.circuits import _rf

    results, model, images = directions_run
    n, d = results["neurons"], results["planted"]
    i, a, j, b = PLANT
    maps = _maps(model, images)
    proj = a * maps[..., i] + b * maps[..., j]                                      # [n, h, w]
    best, least = proj.max(axis=(1, 2)), proj.min(axis=(1, 2))
    de = d["examples"].arrays
    order = np.argsort(-best, kind="stable")[:3]
    assert de["top_image"][2].tolist() == order.tolist()
    np.testing.assert_allclose(de["top_value"][2], best[order], rtol=1e-5)
    centre = proj[:, proj.shape[1] // 2, proj.shape[2] // 2]
    np.testing.assert_allclose([de["stats_mean"][2], de["stats_sd"][2]], [centre.mean(), centre.std()], rtol=1e-5)
    np.testing.assert_allclose(de["quilt_value"][2], best[de["quilt_image"][2]], rtol=1e-5)
    np.testing.assert_allclose(de["bottom_value"][2], np.sort(least)[:3], rtol=1e-5)
    np.testing.assert_allclose(de["pre"]["mean"][2], proj.mean(), rtol=1e-5)
    assert d["examples"].summary["pre_is_relu_input"] is False       # a direction has no ReLU of its own
    # stimuli: the channels' raw responses (their SD undone), projected, in the direction's SD
    ne = n["examples"].arrays
    raw = lambda z, c: z * ne["stats_sd"][c] + ne["stats_mean"][c]  # noqa: E731
    m, s = de["stats_mean"][2], de["stats_sd"][2]
    for family, grid in n["stimuli"].arrays.items():
        r = grid["responses"]
        want = (a * raw(r[..., i], i) + b * raw(r[..., j], j) - m) / s
        np.testing.assert_allclose(d["stimuli"].arrays[family]["responses"][..., 2], want, rtol=1e-4, atol=1e-4)
    # rotation: the direction's own exemplars, the channels' raw curves on them, projected, in its SD
    net, variables = steps.load_model(model)
    centred = ex.recentre(images, de["top_image"][2:3, :3], de["top_y"][2:3, :3], de["top_x"][2:3, :3],
                          _rf(d["examples"].summary))
    angles = d["rotation"].arrays["angles"]
    r = np.asarray(ex.exemplar_rotation_tuning(net, variables, "relu2", np.repeat(centred, 2, axis=0), angles,
                                               (i, j)))                          # [A, 2] raw
    np.testing.assert_allclose(d["rotation"].arrays["curves"][:, 2], (a * r[:, 0] + b * r[:, 1] - m) / s,
                               rtol=1e-4, atol=1e-4)


def test_a_kmeans_fit_reaches_the_examples_as_its_directions(directions_run):
    """A real fit (steps.fit_task) as the dependency: k units, each the projection on its centroid."""
    results, model, images = directions_run
    fit = np.asarray(results["kmeans"]["fit"].arrays["directions"], np.float64)       # [3, 64]
    e = results["kmeans"]["examples"]
    proj = _maps(model, images) @ fit.T                                               # [n, h, w, 3]
    best = proj.max(axis=(1, 2))                                                      # [n, 3]
    np.testing.assert_allclose(e.arrays["top_value"], -np.sort(-best, axis=0)[:3].T, rtol=1e-5)
    assert e.arrays["stats_mean"].shape == (3,) and e.arrays["quilt_crops"].shape[:2] == (2, 4)
    assert e.summary["directions"] == e.summary["channels"] == 3


def test_neuron_tasks_keep_their_keys_and_directions_get_their_own():
    """unit_tasks without a fit builds the tasks the atlas and circuits_tasks always built (same
    keys: stores resume); with one, every task depends on it as "directions"; examples read for
    other units than the stimuli's are refused in one line."""
    from jaxinterp import tasks
    from jaxinterp.recipes import circuits as circ

    model, data = steps.model_spec("small_cnn_rgb", "random:0"), steps.data_spec("digits:test")
    chosen, rf = (0, 3), None
    g = circ.unit_tasks(model, data, "relu2", (3, 0), top=5, exemplars=4, rotation_step=2.0, rf=rf)
    examples = tasks.Task("circuits_examples", circ.ExamplesConfig(model, data, "relu2", chosen, 5, rf=rf),
                          circ._examples)
    assert g["examples"].key == examples.key
    assert g["stimuli"].key == tasks.Task("circuits_stimuli", circ.StimuliConfig(model, "relu2"), circ._stimuli,
                                          {"examples": examples}).key
    assert g["rotation"].key == tasks.Task("circuits_rotation", circ.RotationConfig(model, data, "relu2", chosen,
                                                                                    2.0, 4),
                                           circ._rotation, {"examples": examples}).key
    fit = tasks.Task("directions", (64, ROWS), _planted)
    d = circ.unit_tasks(model, data, "relu2", (3, 0), fit, top=5, exemplars=4, rotation_step=2.0, rf=rf)
    assert all(t.deps["directions"] is fit and t.key != g[k].key for k, t in d.items())
    with pytest.raises(ValueError, match="read for channels but this task for 4 directions"):
        circ._stimuli(None, circ.StimuliConfig(model, "relu2"), tasks.Result({}, {"rf": {}}),
                      directions=_planted(None, (64, ROWS)))
