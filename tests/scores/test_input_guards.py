"""Scores refuse input that would give a wrong number or a foreign error, and say how to fix it."""

import jax
import numpy as np
import pytest

from jaxinterp import similarity
from jaxinterp.scores import ii, manifold, psychophysics, spectrum

N, K = 40, 6
KEY = jax.random.key(0)


def _acts():
    return np.random.default_rng(0).random((N, K)).astype(np.float32)


def _feats():
    return similarity.colour.featurize(np.random.default_rng(1).random((N, 4, 4, 3)).astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_top_exemplars_all_refuses_non_finite_rows_by_name(bad):
    a = _acts()
    a[7, 4] = bad
    a[30, 4] = bad
    with pytest.raises(ValueError, match=r"must be finite, got 2 NaN/inf.*row\(s\) 7, 30 and direction "
                                         r"column\(s\) 4.*drop those images"):
        ii.top_exemplars_all(a, 5)
    with pytest.raises(ValueError, match=r"must be finite.*row\(s\) 7, 30"):
        ii.top_exemplars_all(a, 5, ties="numpy")


@pytest.mark.parametrize("call", [
    lambda a, m: ii.top_exemplars_all(a, m),
    lambda a, m: ii.top_exemplars_all(a, m, ties="numpy"),
    lambda a, m: manifold.embedding_set(a, m=m),
])
def test_more_exemplars_than_images_is_a_clear_error(call):
    with pytest.raises(ValueError, match=rf"M=41 exemplars were asked for but the dataset has only {N} "
                                         rf"images; use M <= {N} or more images"):
        call(_acts(), 41)
    with pytest.raises(ValueError, match=r"M \(exemplars per direction\) must be an integer >= 1, got M=0"):
        call(_acts(), 0)
    np.testing.assert_array_equal(np.unique(np.asarray(call(_acts(), N))), np.arange(N))


def test_top_exemplars_all_still_ranks():
    a = _acts()
    np.testing.assert_array_equal(ii.top_exemplars_all(a, 3), np.argsort(-a, axis=0)[:3].T)


@pytest.mark.parametrize("name,value", [("trials", 0), ("refs", 0), ("refs", -1), ("trials", 2.0)])
def test_psychophysics_needs_a_trial_and_a_reference(name, value, unchecked):
    a, f = _acts(), _feats()
    kw = {"trials": 1, "refs": 1, name: value}
    for call in (psychophysics.psychophysics, psychophysics.psychophysics_scores):
        with pytest.raises(ValueError, match=rf"{name} \(.*\) must be an integer >= 1, got {name}={value!r}; "
                                             rf"the paper uses {name}="):
            call(KEY, a, similarity.colour, f, **kw)
    with pytest.raises(ValueError, match=rf"{name} \(.*\) must be an integer >= 1"):
        psychophysics.psychophysics_curve(KEY, a, similarity.colour, f, quantiles=(0.0,), **kw)


@pytest.mark.parametrize("name", ["m", "n_queries", "pairings"])
def test_unit_discrimination_needs_positive_counts(name):
    with pytest.raises(ValueError, match=rf"{name} \(.*\) must be an integer >= 1, got {name}=0; the paper uses"):
        psychophysics.unit_discrimination(KEY, _acts(), similarity.colour, _feats(), **{name: 0})


@pytest.mark.parametrize("value", [0.0, 0.7])
@pytest.mark.parametrize("mode", spectrum.MODES)
def test_spectrum_of_constant_activations_is_refused(mode, value):
    const = np.full((20, 5), value, np.float32)
    repeat = const if mode == "augment" else None
    with pytest.raises(ValueError, match=r"activations are constant over the 20 images \(every one of the 5 "
                                         r"neurons\); a spectrum needs variance"):
        spectrum.spectrum(KEY, const, mode, acts_repeat=repeat)


def test_spectrum_with_one_constant_repeat_is_refused():
    x = np.random.default_rng(0).random((20, 5)).astype(np.float32)
    with pytest.raises(ValueError, match=r"acts_repeat are constant over the 20 images"):
        spectrum.spectrum(KEY, x, "augment", acts_repeat=np.zeros_like(x))


def test_a_constant_neuron_adds_nothing_to_the_spectrum():
    """noncv z-scores each neuron; a constant one (whose float32 std rounds to ~1e-7, not 0)
    must stay 0, not be blown up into a column of rounding noise."""
    x = np.random.default_rng(0).standard_normal((30, 5)).astype(np.float32)
    with_const = np.concatenate([x, np.full((30, 1), 0.7, np.float32)], axis=1)
    ss = np.asarray(spectrum.spectrum(KEY, with_const, "noncv"))
    np.testing.assert_allclose(ss[:5], np.asarray(spectrum.spectrum(KEY, x, "noncv")), rtol=1e-4)
    assert ss[5] < 1e-10
    split = np.asarray(spectrum.spectrum(KEY, with_const, "split"))
    assert np.isfinite(split).all() and split.sum() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("bad", [0.0, -1e-3])
def test_both_fits_refuse_non_positive_values_in_their_range(bad):
    ss = np.arange(1, 601.0) ** -1.2
    ss_s, ss_o = ss.copy(), ss.copy()
    ss_s[[40, 41]] = bad  # ranks 41, 42: inside Stringer's 12..500
    ss_o[[100, 101]] = bad  # ranks 101, 102: inside OLS's 32..300
    with pytest.raises(ValueError, match=r"Stringer fit takes the log of the spectrum at ranks 12\.\.500, "
                                         r"but 2 of those values are <= 0 \(first at rank 41.*stop=40"):
        spectrum.fit_stringer(ss_s)
    with pytest.raises(ValueError, match=r"OLS fit takes the log of the spectrum at ranks 32\.\.300, "
                                         r"but 2 of those values are <= 0 \(first at rank 101.*high=100/600"):
        spectrum.fit_ols(ss_o)
    # outside the range they do not matter, and np.abs gives Stringer's own log|ss|
    tail = ss.copy()
    tail[550:] = bad
    assert spectrum.fit_stringer(tail)[0] == pytest.approx(1.2, abs=1e-9)
    assert spectrum.fit_ols(tail)[0] == pytest.approx(1.2, abs=1e-9)
    ss_s[[40, 41]] = -ss[[40, 41]]
    assert spectrum.fit_stringer(np.abs(ss_s))[0] == pytest.approx(1.2, abs=1e-9)
