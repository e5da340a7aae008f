"""The atlas graph on planted inputs and tiny models: what it reads from the data, what it loads."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp.tasks import Result


def test_match_images_read_only_the_matched_exemplars(tmp_path, monkeypatch):
    """The compared model's best-matched exemplars are read by index from the (encoded) data,
    never by decoding the whole dataset: ``load_data`` raises, and only the distinct images of
    ``top_b[best]`` are decoded."""
    from jaxinterp import steps
    from jaxinterp.data.sources import EncodedImages
    from jaxinterp.recipes import atlas
    from tests.data.images import tiny, write_folder

    images, labels = tiny(20, size=8)
    data = steps.data_spec(write_folder(tmp_path / "folder", images, labels))
    rng = np.random.default_rng(1)
    n, width, width_b, m = 3, 5, 6, 4
    top_b = rng.integers(0, 20, (width_b, m))                     # each compared unit's top images
    best = np.array([4, 0, 4])                                    # the partner of each shown unit
    inputs = {
        "featvis_neurons": Result({"data_max": rng.random(width), "z": rng.random(width)}, {"steps": 4}),
        "ii_neurons_colour": Result({"ii": rng.random(width)}, {}),
        "psy_neurons_colour": Result({"soft": rng.random((1, width)), "accuracy": rng.random((1, width))}, {}),
        "match": Result({"best_partner": np.r_[best, 1, 2], "best_corr": rng.random(width), "top_b": top_b},
                        {"partner": "relu1"}),
        "cka": Result({"cka_linear": rng.random((1, 2))}, {}),
    }
    config = atlas.LayerConfig("relu2", data, ("neurons",), ("colour",), (n,), partner_layer=0)

    def whole(*args, **kwargs):
        raise AssertionError("the whole dataset was decoded")

    monkeypatch.setattr(steps.specs, "load_data", whole)
    reads = []
    real = EncodedImages.read
    monkeypatch.setattr(EncodedImages, "read", lambda self, i: reads.append(i) or real(self, i))
    got = atlas._layer(None, config, **inputs).arrays["neurons"]
    np.testing.assert_array_equal(got["match_unit"], best)
    assert got["match_images"].dtype == np.uint8
    np.testing.assert_array_equal(got["match_images"], images[top_b[best]])     # [n, M, 8, 8, 3]
    assert sorted(reads) == sorted(set(top_b[best].ravel().tolist()))


def _data(tmp_path):
    from jaxinterp import steps

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, 12))
    return steps.data_spec(tmp_path / "d.npz")


@pytest.mark.parametrize("arch, layer, level", [("small_cnn_rgb", "relu2", "pixels"),
                                                ("cifar_resnet20", "layer1", "window"),
                                                ("cifar_resnet20", "layer2", "pixels")])
def test_the_roles_level_is_read_off_the_layer_graph(arch, layer, level, tmp_path, monkeypatch):
    """The window level of a ResNet stage that has one, else pixels, decided without decoding
    the dataset (the graph of a run without --compare decodes none)."""
    from jaxinterp import steps
    from jaxinterp.data import checks
    from jaxinterp.recipes import atlas

    def whole(*args, **kwargs):
        raise AssertionError("the whole dataset was decoded")

    monkeypatch.setattr(checks, "check_images", whole)  # what load_data runs on every dataset it holds
    graph = atlas.atlas_tasks(steps.model_spec(arch, "random:0"), _data(tmp_path), [layer], units=2, m=2,
                              exemplars=2, circuits=False, synergy=False)
    roles = graph[f"layer:{layer}"].deps["roles"]
    assert [k for k in roles.deps if k.startswith("level_")] == [f"level_{level}"]


def test_the_compared_model_is_loaded_once(tmp_path, monkeypatch):
    from jaxinterp import steps
    from jaxinterp.recipes import atlas

    loads = []
    real = atlas.load_model
    monkeypatch.setattr(atlas, "load_model", lambda spec: loads.append(spec) or real(spec))
    model, other = steps.model_spec("small_cnn_rgb", "random:0"), steps.model_spec("small_cnn_rgb", "random:1")
    graph = atlas.atlas_tasks(model, _data(tmp_path), ["relu2"], units=2, compare=other, m=2, exemplars=2,
                              roles=False, circuits=False, synergy=False)
    assert "match" in graph["layer:relu2"].deps
    assert loads.count(other) == 1 and loads.count(model) == 1
