"""The atlas's per-layer gathering step on planted inputs: what it reads from the data."""

from __future__ import annotations

import numpy as np

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
