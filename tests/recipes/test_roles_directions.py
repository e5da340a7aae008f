"""`roles_tasks(..., directions=fit)`: the role measures of learned directions, a direction's
response being the layer's maps projected on it (maps @ Dᵀ).

* one-hot rows are the neurons they pick: every column equals the neuron table's rows (the
  identity, as the ``neurons`` fit gives it, equals it whole, MLP ceiling and role labels too; a
  subset or permutation equals it in every measure but the MLP ceiling's, whose PRNG key is per
  column index);
* planted directions (a neuron scaled by 2.5, the sum of two neurons, a dense random direction):
  the ridge R² of each is numpy's ridge on the projected torch layer at the run's position draws,
  saliency κ is torch autograd's of the projected spatial mean, the scaled neuron keeps its ridge
  R², λ, Jacobian ratios and κ, and its sensitivity scales by 2.5;
* the structured CIFAR saliency kernel, projected, equals autodiff of the projected cut;
* the keys of the neuron tasks are those the code had before directions existed.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import neurons, steps, tasks
from jaxinterp.recipes.roles import roles_tasks
from tests import _refs as ref
from tests.recipes.test_roles_tasks import LAMBDAS, _draws

PICKED = np.random.default_rng(1).permutation(64)[:61]  # a permuted subset of relu2's channels
SMALL = dict(levels=("pixels",), samples=300, mlp_hidden=(16,), mlp_steps=50, jacobian_samples=16,
             ksg_samples=100, saliency_images=8, top=5)
MLP_COLUMNS = ("r2_nl", "lf")  # the MLP ceiling draws one key per column index


def _directions(width: int, picked, scaled: int, summed: tuple) -> np.ndarray:
    """[width, width]: one-hot rows of the channels ``picked`` (width - 3 of them, in that order),
    then 2.5 × channel ``scaled``, the sum of channels ``summed`` and a dense random direction.
    As many rows as channels: the kernels compiled for the neurons' shapes serve them too."""
    eye = np.eye(width, dtype=np.float32)
    rest = [2.5 * eye[scaled], eye[list(summed)].sum(0), np.random.default_rng(0).normal(size=width)]
    return np.concatenate([eye[list(picked)], np.asarray(rest, np.float32)])


def _rows_fit(ctx, rows, acts) -> tasks.Result:
    d = np.asarray(rows, np.float32)
    return tasks.Result({"directions": d, "activations": acts.arrays["acts"] @ d.T},
                        {"method": "planted", "k": len(d)})


def planted(acts: tasks.Task, d: np.ndarray) -> tasks.Task:
    """A direction-fit task whose directions are the rows of ``d`` [k, C]."""
    return tasks.Task("directions", tuple(map(tuple, np.asarray(d, float).tolist())), _rows_fit, {"acts": acts})


def _run(store, graph) -> dict:
    results, _ = tasks.run([graph["roles"]], store)
    return results[graph["roles"].key]


def _same_rows(got: tasks.Result, neuron: tasks.Result, rows, skip=()):
    """Every column of ``got``'s units [0, len(rows)) equals the neuron table at ``rows``."""
    t, n = got.arrays["table"], neuron.arrays["table"]
    assert set(t) == set(n)
    for col in t:
        if col == "neuron" or col.rsplit(".", 1)[-1] in skip:
            continue
        np.testing.assert_allclose(t[col][: len(rows)], n[col][rows], rtol=1e-5, atol=1e-7, err_msg=col)
    for name in ("top", "best_saliency"):
        np.testing.assert_allclose(got.arrays[name][: len(rows)], neuron.arrays[name][rows], rtol=1e-5,
                                   atol=1e-7, err_msg=name)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """small_cnn (random weights), 48 digits, relu2's pixel level: the neuron run, the identity
    (the ``neurons`` fit as directions) and 64 directions: 61 permuted one-hot rows and three
    planted ones (:func:`_directions`)."""
    model, data = steps.model_spec("small_cnn", "random:0"), steps.data_spec("digits:test", limit=48)
    store = tasks.Store(tmp_path_factory.mktemp("roles_dir") / "store")
    g = roles_tasks(model, data, "relu2", **SMALL)
    d = _directions(64, PICKED, 3, (1, 7))
    plant = roles_tasks(model, data, "relu2", **SMALL, directions=planted(g["acts"], d))
    identity = roles_tasks(model, data, "relu2", **SMALL, directions=steps.fit_task(g["acts"], "neurons"))
    return {"model": model, "data": data, "d": d, "neurons": _run(store, g), "planted": _run(store, plant),
            "identity": _run(store, identity), "graphs": (g, plant, identity), "store": store}


def test_identity_directions_are_the_neurons(small):
    """The ``neurons`` fit as directions: every column, the MLP ceiling and role labels included."""
    _same_rows(small["identity"], small["neurons"], np.arange(64))
    assert small["identity"].summary["roles"] == small["neurons"].summary["roles"]
    assert small["identity"].summary["directions"] == {"method": "neurons", "k": 64, "channels": 64}
    assert "directions" not in small["neurons"].summary


def test_onehot_directions_are_the_neurons_they_pick(small):
    _same_rows(small["planted"], small["neurons"], PICKED, skip=MLP_COLUMNS)
    assert small["planted"].arrays["table"]["neuron"].tolist() == list(range(64))
    assert "64 planted directions" in small["planted"].summary["notes"][0]


def test_planted_directions_against_numpy_and_torch(small):
    torch = pytest.importorskip("torch")
    t, n = small["planted"].arrays["table"], small["neurons"].arrays["table"]
    model, variables = steps.load_model(small["model"])
    layer = lambda x01: ref.torch_small_cnn(variables, model.MEAN, model.STD)(x01, 2)[1]  # noqa: E731
    x01 = torch.tensor(np.asarray(steps.images01(small["data"])), dtype=torch.float64)
    d = torch.tensor(small["d"], dtype=torch.float64)

    # ridge: numpy's normal equations on the hand-gathered 5x5 window of the normalised image and
    # the projected torch layer, at the run's position draws and split
    dr = _draws()
    img, hh, ww = dr["positions"].T
    padded = np.pad((x01.numpy()[..., 0] - model.MEAN[0]) / model.STD[0], ((0, 0), (2, 2), (2, 2)))
    x = np.stack([padded[i, 2 * h:2 * h + 5, 2 * w:2 * w + 5].ravel() for i, h, w in dr["positions"]])
    y = (layer(x01).permute(0, 2, 3, 1) @ d.T).numpy()[img, hh, ww]  # [300, 64]
    lambdas, cv, r2 = ref.ridge_cv(x[dr["fit"]], y[dr["fit"]], x[dr["test"]], y[dr["test"]], LAMBDAS)
    chosen = np.array([np.argmin(np.abs(lambdas - lam)) for lam in t["pixels.lambda"]])
    np.testing.assert_allclose(t["pixels.lambda"], lambdas[chosen], rtol=1e-5)
    assert (cv[chosen, np.arange(64)] <= cv.min(0) * (1 + 1e-4) + 1e-9).all()
    np.testing.assert_allclose(t["pixels.r2_lin"], r2[chosen, np.arange(64)], atol=1e-5)
    assert np.ptp(t["pixels.r2_lin"]) > 0.05  # the directions differ: the check can tell them apart

    # a neuron scaled by 2.5: ridge is linear in y (same λ, same R²), the Jacobian ratios and κ
    # are scale-free, the sensitivity scales
    for col in ("pixels.r2_lin", "pixels.lambda", "pixels.consistency", "pixels.effective_dim",
                "pixels.axis_focus", "saliency_kappa_top", "saliency_kappa_random", "mi_knn"):
        np.testing.assert_allclose(t[col][61], n[col][3], rtol=1e-4, err_msg=col)
    np.testing.assert_allclose(t["pixels.sensitivity"][61], 2.5 * n["pixels.sensitivity"][3], rtol=1e-5)

    # saliency: κ of max_c |∂(projected spatial mean)/∂x| at each direction's top images (by the
    # projected spatial means) and at the run's random images
    acts = (layer(x01).mean((2, 3)) @ d.T).numpy()
    top, decided = ref.top_m_all(acts, 5)
    got = small["planted"].arrays["top"]
    np.testing.assert_array_equal(got[decided], top[decided])  # where no near-tie lets rounding pick the order
    np.testing.assert_allclose(np.take_along_axis(acts.T, got, 1), np.take_along_axis(acts.T, top, 1), rtol=1e-5,
                               atol=1e-6)
    top = got
    g = torch.func.jacrev(lambda a: (layer(a).mean((2, 3)) @ d.T).sum(0))(x01).numpy() * model.STD[0]
    kappa = np.array([[ref.concentration(np.abs(g[u, i]).max(-1)) for u in range(64)] for i in range(48)])
    np.testing.assert_allclose(t["saliency_kappa_top"], kappa[top, np.arange(64)[:, None]].mean(1), atol=1e-5)
    np.testing.assert_allclose(t["saliency_kappa_random"], kappa[dr["random_images"]].mean(0), atol=1e-5)


def test_neuron_task_keys_are_unchanged(small, tmp_path):
    """Stores written before directions existed resume: the neuron graph's keys are the ones that
    code computed (pinned from it; the data and weights are keyed by content, so they hold on
    every host). The directions' tasks, and only those that measure units, have other keys."""
    g, plant, identity = small["graphs"]
    before = {"acts": "e11d8baaa5508fa2cbfd103a548d767a709eff52925c98d5bbd940ea9451cbdb",
              "fit_neurons": "fe5b4d035674525cd445052b819bcf856155e2e70cc0d024089527e8491b57fb",
              "ii_colour": "e2712ce3848a39319e93f20a8f29b3e6a836d77b09b8ff01ea7e25f54c4d8ec7",
              "ii_label": "ec7703c3dcb7a82c3dd56cd08bec16bb6b918d9620d1c687591245d1c5596153",
              "level_pixels": "f6120d10d547e8d6918f0d00c55a5c1ed48d7ea338fac4286db79a59c9a604c5",
              "saliency": "df1db3d80857f4110b4351f39e23eee572a98652a5d926ba269196e527b635c8",
              "image": "d15ee7fc30af7d016019082269fbcade119a7689b77ffafef9eca2684aa10cdc",
              "roles": "209a92588c9231f5304593c051ce554a954b31901c02b51f294634e899c497a7"}
    custom = dict(SMALL, mlp_hidden=(128, 128), seed=3)  # the pin's arguments
    assert {k: v.key for k, v in roles_tasks(small["model"], small["data"], "relu2", **custom).items()} == before
    for other in (plant, identity):
        assert other["acts"].key == g["acts"].key
        assert all(other[k].key != g[k].key for k in ("level_pixels", "saliency", "image", "roles"))
    assert identity["ii_colour"].key == g["ii_colour"].key  # the neurons fit's II, reused
    assert plant["ii_colour"].key != g["ii_colour"].key


def test_structured_saliency_and_stage_levels_of_directions(tmp_path):
    """layer1 of a CIFAR ResNet-20 (random weights, 12 random images), the immediate level and the
    structured saliency kernel: one-hot rows equal the neurons they pick; a scaled neuron keeps
    its scale-free measures (expanded-weight spectra and skip share included); the projected
    structured kernel's κ equals autodiff of the projected cut on every direction."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 3, 12))
    from jaxinterp import models
    from jaxinterp.checkpoint import save_variables
    from tests.neurons.test_levels import _random_variables  # no Flax initialisers: 20 s for a ResNet-20

    save_variables(tmp_path / "params", _random_variables(models.get("cifar_resnet20")), {"arch": "cifar_resnet20"})
    model, data = steps.model_spec("cifar_resnet20", tmp_path / "params"), steps.data_spec(tmp_path / "d.npz")
    args = dict(SMALL, levels=("immediate",), saliency_images=4, top=3)
    store = tasks.Store(tmp_path / "store")
    g = roles_tasks(model, data, "layer1", **args)
    picked = [5, 0, 11, 15, 1, 3, 6, 7, 8, 10, 12, 13, 14]
    d = _directions(16, picked, 2, (4, 9))
    plant = roles_tasks(model, data, "layer1", **args, directions=planted(g["acts"], d))
    assert plant["saliency"].config.structured
    neuron, got = _run(store, g), _run(store, plant)
    _same_rows(got, neuron, picked, skip=MLP_COLUMNS)
    t, n = got.arrays["table"], neuron.arrays["table"]
    for col in ("immediate.r2_lin", "immediate.consistency", "immediate.axis_focus", "saliency_kappa_top",
                "weights.immediate.effective_rank", "weights.immediate.separability",
                "weights.immediate.skip_share"):
        np.testing.assert_allclose(t[col][13], n[col][2], rtol=1e-4, err_msg=col)
    np.testing.assert_allclose(t["weights.immediate.norm"][13], 2.5 * n["weights.immediate.norm"][2], rtol=1e-5)

    net, variables = steps.load_model(model)
    x = net.normalize(jnp.asarray(steps.images01(data)))
    fn = neurons.subnetwork(net, variables, ["input"], "layer1", x.shape[1:])
    kappa, _ = neurons.saliency_summary(lambda z: neurons.project(fn((z,)), d), x, jnp.zeros(16, jnp.int32))
    top = got.arrays["top"]
    np.testing.assert_allclose(t["saliency_kappa_top"], np.asarray(kappa)[top, np.arange(16)[:, None]].mean(1),
                               atol=1e-5)


def test_directions_of_another_layer_are_refused(small):
    g = small["graphs"][0]
    other = steps.fit_task(steps.capture_task(small["model"], small["data"], "relu1"), "kmeans", k=4)
    with pytest.raises(ValueError, match="fit on layer 'relu1', not 'relu2'; fit them on capture_task"):
        roles_tasks(small["model"], small["data"], "relu2", **SMALL, directions=other)
    with pytest.raises(ValueError, match="directions must be a direction-fit Task"):
        roles_tasks(small["model"], small["data"], "relu2", **SMALL, directions=np.eye(64))
    assert g["acts"].config.layer == "relu2"
