"""The atlas's direction pages: weights in and out, and matches to the compared model, of a
direction set (K-means, SAE...) against the neurons' (one-hot directions) and a planted mix."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp.tasks import Result


def _weights(rng) -> Result:
    """A ``circuits_weights``-shaped result: 5 channels, 4 upstream, 3 downstream, 3x3 windows."""
    from jaxinterp.circuits import expanded

    w_in, w_out = rng.normal(size=(5, 3, 3, 4)), rng.normal(size=(3, 3, 3, 5))
    in_idx, in_val = expanded.top_connections(w_in, 2, "in")
    out_idx, out_val = expanded.top_connections(w_out, 2, "out")
    return Result({"w_in": w_in, "w_out": w_out, "in_idx": np.asarray(in_idx), "in_val": np.asarray(in_val),
                   "out_idx": np.asarray(out_idx), "out_val": np.asarray(out_val)}, {})


def test_one_hot_directions_have_their_neurons_weights():
    from jaxinterp.recipes.atlas import direction_weights

    w = _weights(np.random.default_rng(0))
    rows = [3, 0, 4]
    got = direction_weights(w, np.eye(5)[rows])
    for name in ("in_idx", "out_idx"):
        np.testing.assert_array_equal(got[name], w.arrays[name][rows])
    for name in ("in_val", "out_val"):
        np.testing.assert_allclose(got[name], w.arrays[name][rows], rtol=1e-5)


def test_a_mixed_direction_ranks_the_mixed_weights():
    """d = 2·e1 - e3: in-weights 2·w_in[1] - w_in[3], each upstream unit's value sign(Σ) · ‖map‖."""
    from jaxinterp.recipes.atlas import direction_weights

    w = _weights(np.random.default_rng(1))
    d = np.zeros((1, 5))
    d[0, 1], d[0, 3] = 2.0, -1.0
    got = direction_weights(w, d)
    mixed = 2 * w.arrays["w_in"][1] - w.arrays["w_in"][3]                             # [3, 3, 4]
    value = np.sign(mixed.sum((0, 1))) * np.sqrt((mixed ** 2).sum((0, 1)))           # [4]
    top = np.argsort(-np.abs(value))[:2]
    np.testing.assert_array_equal(got["in_idx"][0], top)
    np.testing.assert_allclose(got["in_val"][0], value[top], rtol=1e-5)
    out = 2 * w.arrays["w_out"][..., 1] - w.arrays["w_out"][..., 3]                  # [3 targets, 3, 3]
    value = np.sign(out.sum((1, 2))) * np.sqrt((out ** 2).sum((1, 2)))
    top = np.argsort(-np.abs(value))[:2]
    np.testing.assert_array_equal(got["out_idx"][0], top)
    np.testing.assert_allclose(got["out_val"][0], value[top], rtol=1e-5)


def test_directions_are_matched_by_their_projections(tmp_path):
    """One-hot directions match as their neurons do; a mix is matched by its projection's correlation."""
    from jaxinterp import steps
    from jaxinterp.recipes.atlas import DirectionMatchConfig, _match_directions
    from jaxinterp.recipes.compare import COLOUR, MatchConfig
    from jaxinterp.universality.analysis import match_layer, null_order, unit_info

    rng = np.random.default_rng(2)
    path = tmp_path / "d.npz"
    np.savez(path, images=rng.integers(0, 256, (24, 8, 8, 3), dtype=np.uint8), labels=rng.integers(0, 3, 24))
    data = steps.data_spec(path)
    xa = rng.normal(size=(24, 6)).astype(np.float32)
    xb = {"p": rng.normal(size=(24, 4)).astype(np.float32), "q": (xa[:, :5] + 0.1 * rng.normal(size=(24, 5)))
          .astype(np.float32)}
    feats = steps.similarity_features(COLOUR, data)
    units_b = {f"units_b{j}": Result(dict(zip(("ii", "top"), unit_info(xb[n], feats, 3))), {})
               for j, n in enumerate(("p", "q"))}
    cka = Result({"cka_linear": np.array([[0.2, 0.9]])}, {})
    a, b = Result({"acts": {"l": xa}}, {}), Result({"acts": xb}, {})
    config = DirectionMatchConfig(MatchConfig(0, ("l",), ("p", "q"), 0, 2), data, 3)
    d = np.eye(6)[[4, 1]]
    d = np.concatenate([d, [[1.0, 0, -2.0, 0, 0, 0]]])
    got = _match_directions(None, config, cka, a, Result({"directions": d}, {}), b=b, **units_b)
    assert got.summary["partner"] == "q"
    proj = xa @ d.T
    want = match_layer(proj, xb["q"], null_order(24, 0), unit_info(proj, feats, 3)[1], units_b["units_b1"].arrays["top"], 2)
    np.testing.assert_array_equal(got.arrays["best_partner"][:2], [4, 1])  # one-hot rows find their own neurons
    np.testing.assert_array_equal(got.arrays["best_partner"], want["best_partner"])
    corr = [np.corrcoef(proj[:, 2], xb["q"][:, j])[0, 1] for j in range(5)]
    assert got.arrays["best_corr"][2] == pytest.approx(max(corr), abs=1e-5)
