"""The reusable steps: specs name content, fits equal direct calls, long fits resume inside a task."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp import steps, tasks
from jaxinterp.directions import _resume, kmeans, pca


@pytest.fixture
def data(tmp_path, rng):
    path = tmp_path / "data.npz"
    np.savez(path, images=rng.integers(0, 256, (40, 8, 8, 1), dtype=np.uint8), labels=rng.integers(0, 3, 40))
    return path


def test_specs_follow_the_content_of_files(data, rng):
    a = steps.data_spec(data)
    assert steps.data_spec(data) == a and steps.data_spec(data, limit=10) != a
    acts = steps.capture_task(steps.model_spec("small_cnn", "random:0"), a, "relu1")
    np.savez(data, images=rng.integers(0, 256, (40, 8, 8, 1), dtype=np.uint8), labels=np.zeros(40, int))
    b = steps.data_spec(data)
    assert b.fingerprint != a.fingerprint
    assert steps.capture_task(steps.model_spec("small_cnn", "random:0"), b, "relu1").key != acts.key
    assert steps.capture_task(steps.model_spec("small_cnn", "random:1"), a, "relu1").key != acts.key
    with pytest.raises(ValueError, match="positive number"):
        steps.data_spec(data, limit=0)
    with pytest.raises(FileNotFoundError, match="jaxinterp convert"):
        steps.model_spec("small_cnn", data.parent / "nothing")
    with pytest.raises(ValueError, match="unknown direction method 'kmean'"):
        steps.fit_task(acts, "kmean")


def test_fits_equal_direct_calls(tmp_path, data):
    import jax

    d = steps.data_spec(data)
    acts_t = steps.capture_task(steps.model_spec("small_cnn", "random:0"), d, "relu2")
    fits = {m: steps.fit_task(acts_t, m, k=6, seed=3) for m in ("kmeans", "pca")}
    results, _ = tasks.run(list(fits.values()), tasks.Store(tmp_path / "s"))
    acts = tasks.Store(tmp_path / "s").load(acts_t).arrays["acts"]
    unit = kmeans.unit_rows(acts)
    km = kmeans.fit(jax.random.key(3), unit, 6)
    np.testing.assert_array_equal(results[fits["kmeans"].key].arrays["directions"], np.asarray(km.centroids))
    np.testing.assert_array_equal(results[fits["kmeans"].key].arrays["activations"],
                                  np.asarray(kmeans.transform(km, unit)))
    p = pca.fit(None, unit, 6)
    np.testing.assert_allclose(results[fits["pca"].key].arrays["activations"], np.asarray(pca.transform(p, unit)),
                               rtol=1e-6, atol=1e-6)


def test_an_sae_fit_interrupted_inside_its_task_resumes_to_the_same_weights(tmp_path, data, monkeypatch):
    d = steps.data_spec(data)
    acts_t = steps.capture_task(steps.model_spec("small_cnn", "random:0"), d, "relu2")
    fit = steps.fit_task(acts_t, "sae", k=8, seed=1, max_steps=30, checkpoint_every=10, batch_size=16)
    reference, _ = tasks.run([fit], tasks.Store(tmp_path / "reference"))

    store = tasks.Store(tmp_path / "crash")
    saves = []
    real_save = _resume.save_step

    def crash_after_two(directory, step, state, meta=None, keep=2):
        real_save(directory, step, state, meta, keep)
        saves.append(step)
        if len(saves) == 2:
            raise KeyboardInterrupt  # Ctrl-C half-way through the fit

    monkeypatch.setattr(_resume, "save_step", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        tasks.run([fit], store)
    assert saves == [10, 20] and not store.has(fit)
    assert _resume.latest_step(store.scratch_dir(fit)) == 20  # the checkpoint survived the crash
    after = []
    monkeypatch.setattr(_resume, "save_step", lambda directory, step, *a, **k: (
        after.append(step), real_save(directory, step, *a, **k)))
    resumed, report = tasks.run([fit], store)
    assert after == [30]  # it went on from step 20, not from the start
    assert report.count("directions") == 1 and report.count("capture") == 0
    for name in ("directions", "activations"):
        np.testing.assert_array_equal(resumed[fit.key].arrays[name], reference[fit.key].arrays[name])
    assert not (store.root / "scratch" / fit.key).exists()


def test_ii_task_equals_a_numpy_loop(tmp_path, data):
    """The II task over a capture's neurons, for colour and label, against tests/_refs.py on the
    data file itself; and what it reads: the [0, 1] images, the labels, each similarity."""
    from tests import _refs as ref

    d, model = steps.data_spec(data), steps.model_spec("small_cnn", "random:0")
    assert isinstance(d, steps.DataSpec) and isinstance(model, steps.ModelSpec)
    acts_t = steps.capture_task(model, d, "relu2")
    assert acts_t.config == steps.CaptureConfig(model, d, "relu2", "mean", 256)
    neurons = steps.fit_task(acts_t, "neurons")
    assert neurons.config == steps.FitConfig("neurons")
    specs = {"colour": steps.SimilaritySpec("colour"), "label": steps.SimilaritySpec("label")}
    iis = {name: steps.ii_task(neurons, spec, d, m=4) for name, spec in specs.items()}
    assert iis["label"].config == steps.IIConfig(specs["label"], d, 4, "lowest_index")
    store = tasks.Store(tmp_path / "s")
    results, _ = tasks.run(list(iis.values()), store)
    acts = store.load(acts_t).arrays["acts"]

    raw = np.load(data)
    images, labels = steps.load_data(d)
    np.testing.assert_array_equal(images, raw["images"])
    np.testing.assert_array_equal(labels, raw["labels"])
    np.testing.assert_allclose(steps.images01(d), raw["images"] / 255.0, rtol=1e-6)
    sims = {"colour": ref.colour_matrix(raw["images"]), "label": ref.label_matrix(raw["labels"])}
    for name, spec in specs.items():
        feats = steps.similarity_features(spec, d)
        np.testing.assert_allclose(steps.build_similarity(spec).pairwise(feats, feats), sims[name], atol=1e-6)
        np.testing.assert_allclose(results[iis[name].key].arrays["ii"], ref.ii(acts, sims[name], 4, tie=0)[0],
                                   rtol=1e-5, atol=1e-7, err_msg=name)
    with pytest.raises(ValueError, match="ties must be one of lowest_index, numpy"):
        steps.ii_task(neurons, specs["colour"], d, ties="random")


def test_fits_go_through_the_registry_inputs_and_k_rules(tmp_path, data):
    """The SAE sees Â z-scored per dimension (METHODS §4.4); K defaults to the width; neurons refuse
    another K when they run and options when the task is built."""
    import jax

    from jaxinterp.directions import sae

    d = steps.data_spec(data)
    acts_t = steps.capture_task(steps.model_spec("small_cnn", "random:0"), d, "relu2")
    fit = steps.fit_task(acts_t, "sae", seed=1, max_steps=5, batch_size=16)
    store = tasks.Store(tmp_path / "s")
    results, _ = tasks.run([fit], store)
    acts = store.load(acts_t).arrays["acts"].astype(np.float64)
    unit = acts / np.maximum(np.linalg.norm(acts, axis=1, keepdims=True), 1e-6)
    z = ((unit - unit.mean(0)) / np.maximum(unit.std(0), 1e-6)).astype(np.float32)
    ref = sae.fit(jax.random.key(1), z, acts.shape[1], max_steps=5, batch_size=16)
    out = results[fit.key]
    assert out.summary["k"] == acts.shape[1]  # K: the layer's width
    # float64 z against float32: near-constant channels magnify the rounding (1e-4 seen)
    np.testing.assert_allclose(out.arrays["activations"], np.asarray(sae.transform(ref, z)), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(out.arrays["state"]["input_mean"], unit.mean(0), atol=1e-6)

    with pytest.raises(ValueError, match="neurons take no options"):
        steps.fit_task(acts_t, "neurons", spherical=True)
    wrong = steps.fit_task(acts_t, "neurons", k=5)
    with pytest.raises(tasks.TaskFailed, match=f"the layer has {acts.shape[1]} neurons, so K is "
                                                      f"{acts.shape[1]}; got K=5"):
        tasks.run([wrong], store)


def test_fit_together_equals_each_fit_task_on_its_own(tmp_path, data):
    """SAE fit tasks of one capture differing in K, λ and seed: one fit_group, and fit_together's
    results equal each task run on its own (sae.fit) to float rounding; other methods, or an
    option fit_many lacks, train alone."""
    d = steps.data_spec(data)
    acts_t = steps.capture_task(steps.model_spec("small_cnn", "random:0"), d, "relu2")
    opts = dict(max_steps=30, batch_size=16)
    fits = [steps.fit_task(acts_t, "sae", k=k, seed=s, l1_coeff=lam, **opts)
            for k, s, lam in ((4, 0, 1e-3), (8, 0, 1e-2), (4, 1, 1e-3))]
    assert len({steps.fit_group(t) for t in fits}) == 1
    assert steps.fit_group(steps.fit_task(acts_t, "kmeans", k=4)) is None
    assert steps.fit_group(steps.fit_task(acts_t, "sae", k=4, checkpoint_every=5, **opts)) is None
    store = tasks.Store(tmp_path / "s")
    alone, _ = tasks.run(fits, store)
    together = steps.fit_together(fits, store.load(acts_t))
    for task, got in zip(fits, together):
        want = alone[task.key].arrays
        assert got.summary == alone[task.key].summary
        for name in ("directions", "activations"):
            np.testing.assert_allclose(got.arrays[name], want[name], rtol=0, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(got.arrays["state"]["input_mean"], want["state"]["input_mean"], rtol=1e-6)
    with pytest.raises(ValueError, match="one capture and one set of options"):
        steps.fit_together(fits + [steps.fit_task(acts_t, "kmeans", k=4)], store.load(acts_t))
