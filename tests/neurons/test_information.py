"""MI and entropy estimators against closed forms, scikit-learn and plug-in references."""

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.feature_selection._mutual_info import _compute_mi_cc, _compute_mi_cd

from jaxinterp import neurons


def test_mi_knn_equals_sklearn(rng):
    labels = rng.integers(0, 4, 1500)
    y = (rng.normal(size=1500) + labels).astype(np.float32)
    ours = float(neurons.mi_knn(jnp.asarray(y), jnp.asarray(labels), 4, 3))
    assert ours == pytest.approx(_compute_mi_cd(y.astype(float), labels, 3), abs=1e-4)


def test_mi_knn_singleton_class_left_out(rng):
    labels = np.r_[rng.integers(0, 3, 500), 3]  # class 3 has one sample
    y = (rng.normal(size=501) + labels).astype(np.float32)
    ours = float(neurons.mi_knn(jnp.asarray(y), jnp.asarray(labels), 4, 3))
    assert ours == pytest.approx(_compute_mi_cd(y.astype(float), labels, 3), abs=1e-4)


def test_mi_gaussian_mixture_closed_form(rng):
    """y = label (two equal classes, far apart) + noise: I = log 2.

    Balanced classes, so that no equal-frequency bin straddles the two modes.
    """
    labels = rng.permutation(np.repeat([0, 1], 2000))
    y = (10.0 * labels + rng.normal(size=4000)).astype(np.float32)
    assert float(neurons.mi_knn(jnp.asarray(y), jnp.asarray(labels), 2)) == pytest.approx(np.log(2), abs=0.02)
    assert float(neurons.mi_binned(jnp.asarray(y), jnp.asarray(labels), 2)) == pytest.approx(np.log(2), abs=0.02)


def test_mi_binned_discrete_plugin(rng):
    """A deterministic function of the label with distinct values: I = H(label) (+ Miller–Madow term)."""
    labels = rng.integers(0, 5, 3000)
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0], np.float32)[labels]
    p = np.bincount(labels) / labels.size
    h = -np.sum(p * np.log(p))
    plug = float(neurons.mi_binned(jnp.asarray(y), jnp.asarray(labels), 5, bins=5, miller_madow=False))
    assert plug == pytest.approx(h, abs=1e-5)
    mm = float(neurons.mi_binned(jnp.asarray(y), jnp.asarray(labels), 5, bins=5))
    assert mm == pytest.approx(h + (4 + 4 - 4) / (2 * 3000), abs=1e-5)
    # independent: near zero after correction
    noise = rng.normal(size=3000).astype(np.float32)
    assert abs(float(neurons.mi_binned(jnp.asarray(noise), jnp.asarray(labels), 5))) < 0.01


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_ksg_gaussian_closed_form_and_sklearn(rng, rho):
    x = rng.normal(size=1500).astype(np.float32)
    z = (rho * x + np.sqrt(1 - rho**2) * rng.normal(size=1500)).astype(np.float32)
    ours = float(neurons.mi_ksg(jnp.asarray(x), jnp.asarray(z)))
    assert ours == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.04)
    assert max(ours, 0) == pytest.approx(_compute_mi_cc(x.astype(float), z.astype(float), 3), abs=1e-4)


def test_kl_entropy_closed_forms(rng):
    g = rng.normal(scale=2.0, size=5000).astype(np.float32)
    assert float(neurons.entropy_kl(jnp.asarray(g))) == pytest.approx(0.5 * np.log(2 * np.pi * np.e * 4), abs=0.03)
    u = rng.uniform(0, 3, size=5000).astype(np.float32)
    assert float(neurons.entropy_kl(jnp.asarray(u))) == pytest.approx(np.log(3), abs=0.03)


def test_mixed_entropy_closed_form(rng):
    """y = relu(z) · b with P(b = 0) known: H_b(p0) + (1 - p0) h(ỹ | ỹ > 0) for an exponential."""
    n = 20000
    y = rng.exponential(size=n) * (rng.uniform(size=n) > 0.3)
    out = neurons.mixed_entropy(jnp.asarray(y, jnp.float32))
    p0 = 0.3
    sd = np.sqrt((1 - p0) * 2 - (1 - p0) ** 2)  # E y² = 0.7·2, E y = 0.7
    h_pos = 1.0 - np.log(sd)  # exponential(1) has h = 1; scaled by 1/sd
    ref = -(p0 * np.log(p0) + (1 - p0) * np.log(1 - p0)) + (1 - p0) * h_pos
    assert float(out["p0"]) == pytest.approx(p0, abs=0.01)
    assert float(out["h_pos"]) == pytest.approx(h_pos, abs=0.03)
    assert float(out["h_mix"]) == pytest.approx(ref, abs=0.03)


def test_binned_entropy_of_planted_distributions(rng):
    """Independent of the binning code: a discrete distribution whose values fall in distinct
    bins has plug-in entropy H(p) exactly (scipy), and a uniform one fills the bins evenly."""
    from scipy.stats import entropy

    p = np.array([0.1, 0.2, 0.3, 0.4])
    counts = (p * 4000).astype(int)
    y = rng.permutation(np.repeat(np.array([0.0, 1.0, 2.0, 3.0], np.float32), counts))
    assert float(neurons.binned_entropy(jnp.asarray(y))) == pytest.approx(entropy(counts), abs=1e-5)
    assert float(neurons.binned_entropy(jnp.asarray(y), bins=8)) == pytest.approx(entropy(counts), abs=1e-5)
    u = rng.uniform(0, 1, 200_000).astype(np.float32)
    assert float(neurons.binned_entropy(jnp.asarray(u), bins=16)) == pytest.approx(np.log(16), abs=5e-3)
    assert float(neurons.binned_entropy(jnp.asarray(np.full(50, 2.0, np.float32)))) == pytest.approx(0.0, abs=1e-6)


def test_entropy_kl_all_closed_forms_and_loop(rng):
    n = 6000
    cols = np.stack([rng.normal(scale=0.5, size=n), rng.uniform(0, 3, n), rng.laplace(size=n)], 1)
    closed = [0.5 * np.log(2 * np.pi * np.e * 0.25), np.log(3.0), 1 + np.log(2.0)]
    got = np.asarray(neurons.entropy_kl_all(jnp.asarray(cols, jnp.float32)))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, closed, atol=0.04)
    loop = [float(neurons.entropy_kl(jnp.asarray(cols[:, i], jnp.float32))) for i in range(3)]
    np.testing.assert_allclose(got, loop, atol=1e-5)


def test_batched_equals_loop(rng):
    acts = np.maximum(rng.normal(size=(400, 3)), 0).astype(np.float32)
    labels = rng.integers(0, 3, 400)
    batched = neurons.mi_knn_all(jnp.asarray(acts), jnp.asarray(labels), 3)
    loop = [float(neurons.mi_knn(jnp.asarray(acts[:, i]), jnp.asarray(labels), 3)) for i in range(3)]
    np.testing.assert_allclose(batched, loop, atol=1e-6)
    h = neurons.mixed_entropy_all(jnp.asarray(acts))["h_mix"]
    np.testing.assert_allclose(h, [float(neurons.mixed_entropy(jnp.asarray(acts[:, i]))["h_mix"]) for i in range(3)], atol=1e-5)


def test_every_batched_estimator_equals_its_loop_and_the_reference(rng):
    """The ``*_all`` forms equal the one-neuron kernels column by column, which equal numpy."""
    from tests import _refs as ref

    acts = np.maximum(rng.normal(size=(300, 3)), 0).astype(np.float32)
    labels = rng.integers(0, 3, 300)
    z = rng.normal(size=(300, 2)).astype(np.float32)
    a, lab = jnp.asarray(acts), jnp.asarray(labels)
    h = neurons.binned_entropy_all(a)
    mb = neurons.mi_binned_all(a, lab, 3)
    ksg = neurons.mi_ksg_all(a, jnp.asarray(z))
    assert ksg.shape == (3, 2)
    for i in range(3):
        assert float(h[i]) == pytest.approx(float(neurons.binned_entropy(a[:, i])), abs=1e-6)
        assert float(h[i]) == pytest.approx(ref.binned_entropy(acts[:, i]), abs=1e-5)
        assert float(mb[i]) == pytest.approx(float(neurons.mi_binned(a[:, i], lab, 3)), abs=1e-6)
        assert float(mb[i]) == pytest.approx(ref.mi_binned(acts[:, i], labels), abs=1e-5)
        for j in range(2):
            assert float(ksg[i, j]) == pytest.approx(float(neurons.mi_ksg(a[:, i], jnp.asarray(z[:, j]))), abs=1e-6)
            assert float(ksg[i, j]) == pytest.approx(ref.mi_ksg(acts[:, i], z[:, j]), abs=1e-4)


@pytest.mark.xfail(strict=True, reason="known bug, left for a library fix: under jit, floor(mid·bins/n) "
                   "is computed with a rounded reciprocal of n, so a rank on a bin boundary falls one bin low")
def test_equal_frequency_bins_are_equal_under_jit():
    """200 distinct values in 20 bins: 10 in each, as numpy's ranks put them."""
    import jax

    from jaxinterp.neurons.information import equal_frequency_bins

    y = jnp.asarray(np.random.default_rng(0).permutation(200).astype(np.float32))
    b = np.asarray(jax.jit(lambda v: equal_frequency_bins(v, 20))(y))
    np.testing.assert_array_equal(np.bincount(b, minlength=20), [10] * 20)


@pytest.mark.xfail(strict=True, reason="known divergence, left for a library fix: with tied values (a ReLU's "
                   "zeros) the k-th neighbour distance is 0, scikit-learn then counts the tied samples in m, "
                   "mi_knn counts none, and inflates the estimate")
def test_mi_knn_equals_sklearn_with_tied_zeros(rng):
    labels = rng.integers(0, 4, 200)
    y = np.maximum(rng.normal(size=200) + labels, 0).astype(np.float32)  # 1/4 of class 0 is exactly 0
    ours = float(neurons.mi_knn(jnp.asarray(y), jnp.asarray(labels), 4, 3))
    assert ours == pytest.approx(_compute_mi_cd(y.astype(float), labels, 3), abs=1e-3)
