"""The featvis graph of tasks on a tiny random CNN: one colour matrix per dataset, the final
activations of a render in one pass, [start, stop) unit ranges."""

from __future__ import annotations

import types

import numpy as np
import pytest

QUIET = types.SimpleNamespace(log=lambda message: None)  # the task context render_units reads


@pytest.fixture
def data(tmp_path):
    from jaxinterp import steps

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", images=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, 40))
    return steps.data_spec(tmp_path / "data.npz")


def test_one_colour_matrix_for_every_render_equal_to_the_whole_datas(data, tmp_path, monkeypatch):
    """The render tasks (here two chunks) share one colour-matrix task: the matrix is computed
    once, from the streamed data, and equals the one of every image in memory (what each render
    computed before), so the renders are those of that matrix."""
    from jaxinterp import steps, tasks
    from jaxinterp.featvis import param
    from jaxinterp.recipes import featvis as recipe

    model = steps.model_spec("small_cnn_rgb", "random:0")
    graph = recipe.featvis_tasks(model, data, "relu2", (0, 4), chunk=2, diversity=0, negative_steps=0, steps=2,
                                 exemplars=2)
    renders = [t for t in graph.values() if t.name == "featvis_render"]
    assert len(renders) == 2 and all(t.deps["color"] is graph["color"] for t in renders)
    calls = []
    real = param.color_matrix
    monkeypatch.setattr(param, "color_matrix", lambda images, *a, **k: calls.append(1) or real(images, *a, **k))
    store = tasks.Store(tmp_path / "store")
    tasks.run(renders, store)
    assert len(calls) == 1
    whole = real(steps.load_data(data)[0])  # the previous path: every image in memory
    got = store.load(graph["color"]).arrays["color"]
    np.testing.assert_allclose(got, whole, rtol=1e-10, atol=1e-12)
    again = recipe.render_units(QUIET, graph["max_1"].config, np.arange(2, 4), color=whole)
    np.testing.assert_allclose(store.load(graph["max_1"]).arrays["images"], again.arrays["images"], atol=1e-6)
    assert store.load(graph["max_1"]).summary["units"] == [2, 4]  # [start, stop)


def test_no_colour_task_where_the_matrix_is_not_the_datas(data):
    """ImageNet's matrix (named, or by default for an ImageNet model) and a greyscale model read
    no data for their colours; a colour name other than those is refused up front."""
    from jaxinterp import steps
    from jaxinterp.recipes import featvis as recipe

    model = steps.model_spec("small_cnn_rgb", "random:0")
    graph = recipe.featvis_tasks(model, data, "relu2", (0, 2), diversity=0, negative_steps=0, steps=2,
                                 color="imagenet")
    assert "color" not in graph and "color" not in graph["max_0"].deps
    net, _ = steps.load_model(steps.model_spec("small_cnn", "random:0"))
    assert recipe.color_task(net, data) is None  # 1 channel
    with pytest.raises(ValueError, match="--color must be 'imagenet' or 'data', got 'sky'"):
        recipe.featvis_tasks(model, data, "relu2", (0, 2), color="sky")


def test_a_negative_render_reads_its_images_once_before_and_after_the_relu(data, monkeypatch):
    """The final spatial means after and before the ReLU come from one pass over the rendered
    images, and equal Flax's own forward pass (relu2 and its input bn2)."""
    from jaxinterp import steps, stream
    from jaxinterp.recipes import featvis as recipe
    from tests.flax_reference import forward

    model = steps.model_spec("small_cnn_rgb", "random:0")
    config = recipe.RenderConfig(model, data, "relu2", (3, 5), steps=2, kind="negative")
    passes = []
    real = stream.engine.stream_map

    def counted(*args, **kwargs):
        passes.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(stream, "stream_map", counted)
    monkeypatch.setattr(stream.engine, "stream_map", counted)
    got = recipe.render_units(QUIET, config, np.arange(3, 5), color=np.eye(3))
    assert len(passes) == 1
    assert got.summary["units"] == [3, 5]
    net, variables = steps.load_model(model)
    acts = forward(net, variables, net.normalize(got.arrays["images"]), ["relu2", "bn2"])[1]
    np.testing.assert_allclose(got.arrays["final_acts"], np.asarray(acts["relu2"]).mean((1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.arrays["final_pre"], np.asarray(acts["bn2"]).mean((1, 2)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["channels", "directions"])
def test_exemplar_heat_is_each_units_own_map_on_its_crop_over_its_top_peak(kind):
    """exemplar_crops' heat against an independent forward pass (Flax's capture) and a numpy
    drawing of each map on the pixels (tests._refs.heat_window): channels before the ReLU
    (one-hot directions, as featvis_stats reads them), directions projected after it; the top
    crops' centre is each map's maximum, the bottom's its minimum; 1 is the unit's top peak."""
    from jaxinterp import door, steps
    from jaxinterp.circuits import examples
    from jaxinterp.recipes.featvis import exemplar_crops
    from tests._refs import heat_window
    from tests.flax_reference import forward

    model, variables = steps.load_model(steps.model_spec("small_cnn_rgb", "random:0"))
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    acts = forward(model, variables, model.normalize(images.astype(np.float32) / 255), ["relu2", "bn2"])[1]
    if kind == "channels":
        dirs = np.eye(64, dtype=np.float32)[[2, 5, 9]]
        maps = np.asarray(acts["bn2"], np.float64)[..., [2, 5, 9]]                   # [9, 16, 16, 3]
    else:
        dirs = rng.normal(size=(3, 64)).astype(np.float32)
        maps = np.asarray(acts["relu2"], np.float64) @ dirs.T.astype(np.float64)
    # planted exemplars: any images, shared between units and sides, in any order
    top, bottom = np.array([[0, 4, 7], [4, 1, 8], [2, 2, 3]]), np.array([[5, 6, 0], [3, 0, 4], [8, 1, 6]])
    rf = door.receptive_field(model, variables, "relu2", (32, 32, 3))
    out = exemplar_crops(model, variables, images, "relu2", top, bottom, dirs, rf, pre_relu=kind == "channels",
                         batch_size=4)
    unit = np.arange(3)[:, None]
    scale = maps[top, :, :, unit].max(axis=(1, 2, 3))                               # [3] the top peaks
    assert np.all(scale > 0)
    np.testing.assert_allclose(out["heat_scale"], scale, rtol=1e-5)
    margin = examples.display_margin(32)
    for side, idx in (("top", top), ("bottom", bottom)):
        heat = out[f"{side}_heat"]
        assert heat.shape == out[f"{side}_crops"].shape[:-1] == (3, 3, 5, 5) and heat.dtype == np.float32
        for j, e in np.ndindex(idx.shape):
            m = maps[idx[j, e], :, :, j] / scale[j]
            y, x = divmod(int((np.argmax if side == "top" else np.argmin)(m)), m.shape[1])
            assert (out[f"{side}_y"][j, e], out[f"{side}_x"][j, e]) == (y, x)
            np.testing.assert_allclose(heat[j, e], heat_window(m, rf, (32, 32), y, x, margin), rtol=1e-5, atol=1e-6)
            pick = np.nanmax if side == "top" else np.nanmin                        # the centre is the extreme
            assert heat[j, e, 2, 2] == pytest.approx(pick(heat[j, e]), rel=1e-6)
    np.testing.assert_allclose(out["top_heat"][:, :, 2, 2].max(axis=1), 1.0, rtol=1e-6)


def test_a_unit_silent_on_its_top_exemplars_is_scaled_by_its_largest_magnitude():
    from jaxinterp.recipes.featvis import heat_scale

    top = np.zeros((3, 2, 4, 4), np.float32)
    bottom = np.zeros_like(top)
    top[0, 1, 2, 2], top[0, 0, 0, 0] = 3.0, -7.0          # a positive peak: it, whatever the negatives
    top[1, 0, 1, 1], bottom[1, 1, 3, 0] = -2.0, -5.0      # never positive: the largest magnitude
    np.testing.assert_array_equal(heat_scale(top, bottom), [3.0, 5.0, 1.0])  # all zero: 1
