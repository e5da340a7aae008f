"""Synergy of all pairs against the paper's pair-by-pair numpy loop; exact pruning."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.scores.synergy import (
    candidate_lookup,
    exemplar_images,
    pair_top_exemplars,
    synergy,
    synergy_matrix,
    zscore_columns,
)
from jaxinterp.similarity import colour


def np_ii(feats, idx):
    d = np.sqrt(((feats[idx][:, None] - feats[idx][None]) ** 2).sum(-1))
    return -d.mean()


def np_synergy(acts, feats, m):
    z = (acts - acts.mean(0)) / acts.std(0)
    n = acts.shape[1]
    ii = np.array([np_ii(feats, np.argsort(z[:, a])[-m:]) for a in range(n)])
    out = np.full((n, n), np.nan)
    rho = np.full((n, n), np.nan)
    for a in range(n):
        for b in range(a + 1, n):
            iab = np_ii(feats, np.argsort(z[:, a] + z[:, b])[-m:])
            out[a, b] = out[b, a] = iab - max(ii[a], ii[b])
            rho[a, b] = rho[b, a] = np.corrcoef(acts[:, a], acts[:, b])[0, 1]
    return out, rho, ii


@pytest.mark.parametrize("candidates", [0, 8, 40])
def test_synergy_matrix_matches_numpy_loop(rng, candidates):
    n_img, n, m = 300, 7, 5
    feats = rng.random((n_img, 3)).astype(np.float32)
    acts = np.maximum(rng.standard_normal((n_img, n)) + feats @ rng.standard_normal((3, n)), 0)
    acts = acts.astype(np.float32)
    res = synergy(jnp.asarray(acts), colour, jnp.asarray(feats), m=m, candidates=candidates)
    ref, rho, ii = np_synergy(acts.astype(np.float64), feats.astype(np.float64), m)
    got = np.asarray(synergy_matrix(res, n))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(res.ii), ii, rtol=1e-4, atol=1e-5)
    pairs = np.asarray(res.pairs)
    np.testing.assert_allclose(np.asarray(res.rho), rho[pairs[:, 0], pairs[:, 1]], atol=1e-5)
    np.testing.assert_allclose(np.asarray(res.max_synergy), np.nanmax(ref, axis=1), rtol=1e-4, atol=1e-5)


def test_pruning_is_exact_and_used(rng):
    """Heavy-tailed activations: most pairs settle inside the candidates; all equal the full pass."""
    acts = (rng.standard_exponential((2000, 12)) ** 2).astype(np.float32)
    zt = zscore_columns(jnp.asarray(acts)).T
    pairs = np.stack(np.triu_indices(12, 1), 1)
    full, _ = pair_top_exemplars(zt, pairs, 5, candidates=0)
    pruned, n_pruned = pair_top_exemplars(zt, pairs, 5, candidates=32, chunk=16)
    assert n_pruned > 0
    np.testing.assert_array_equal(np.sort(np.asarray(full), 1), np.sort(np.asarray(pruned), 1))


def test_lookup_equals_features(rng):
    acts = (rng.standard_exponential((500, 6)) ** 2).astype(np.float32)
    feats = jnp.asarray(rng.random((500, 3)).astype(np.float32))
    by_feats = synergy(jnp.asarray(acts), colour, feats)
    lookup = candidate_lookup(acts, colour, feats, c=150)
    by_lookup = synergy(jnp.asarray(acts), lookup)
    np.testing.assert_allclose(np.asarray(by_lookup.synergy), np.asarray(by_feats.synergy), rtol=1e-5,
                               atol=1e-6)
    exact = candidate_lookup(acts, colour, feats, images=exemplar_images(acts))
    np.testing.assert_allclose(np.asarray(synergy(jnp.asarray(acts), exact).synergy),
                               np.asarray(by_feats.synergy), rtol=1e-5, atol=1e-6)
    small = candidate_lookup(acts, colour, feats, c=5)
    with pytest.raises(ValueError, match="not in the similarity lookup"):
        synergy(jnp.asarray(acts), small, candidates=0)


def test_bad_inputs(rng):
    acts = jnp.asarray(rng.random((50, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="features cover 40"):
        synergy(acts, colour, jnp.zeros((40, 3)))
    with pytest.raises(ValueError, match="n_neurons >= 2"):
        synergy(acts[:, :1], colour, jnp.zeros((50, 3)))


def test_per_layer_similarity_gives_per_layer_synergy(rng):
    acts = jnp.asarray(rng.standard_exponential((200, 5)).astype(np.float32))
    feats = jnp.asarray(rng.random((200, 2)).astype(np.float32))

    def layers(a, b):  # two "layers": each feature coordinate on its own -> [a, b, 2]
        return -jnp.abs(a[:, None, :] - b[None, :, :])

    both = synergy(acts, layers, feats)
    assert both.synergy.shape == (10, 2) and both.max_synergy.shape == (5, 2)
    for layer in range(2):
        one = synergy(acts, lambda a, b, l=layer: layers(a, b)[..., l], feats)
        np.testing.assert_allclose(np.asarray(both.synergy[:, layer]), np.asarray(one.synergy), rtol=1e-5,
                                   atol=1e-6)


def test_few_images_many_neurons_score_through_a_lookup(rng, monkeypatch):
    """More pairs than image pairs (a 224-px model's 512 channels on a small folder): synergy caches
    the exemplars' similarities once instead of gathering M features per pair, and equals the loop."""
    from jaxinterp.scores import synergy as syn_mod

    built = []
    monkeypatch.setattr(syn_mod, "candidate_lookup",
                        lambda *a, **k: built.append(k["images"]) or candidate_lookup(*a, **k))
    n_img, n, m = 12, 16, 5
    feats = rng.random((n_img, 3)).astype(np.float32)
    acts = (rng.standard_normal((n_img, n)) + feats @ rng.standard_normal((3, n))).astype(np.float32)
    res = synergy(jnp.asarray(acts), colour, jnp.asarray(feats), m=m)
    assert len(built) == 1 and len(built[0]) <= n_img
    ref, _, ii = np_synergy(acts.astype(np.float64), feats.astype(np.float64), m)
    np.testing.assert_allclose(np.asarray(synergy_matrix(res, n)), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(res.ii), ii, rtol=1e-4, atol=1e-5)


def test_large_features_are_gathered_in_bounded_chunks(rng, monkeypatch):
    """Exemplar sets of wide per-image features (a 224-px model's maps) are scored a few at a time:
    a chunk gathers about SET_BYTES of features, not 1,024 sets' worth."""
    from jaxinterp.scores import synergy as syn_mod

    feats = jnp.asarray(rng.random((30, 1000)).astype(np.float32))  # 4,000 bytes an image
    idx = jnp.asarray(rng.integers(0, 30, (40, 5)))
    whole = np.asarray(syn_mod.ii_of_sets(idx, colour.pairwise, feats))
    chunks = []
    real = syn_mod._ii_features
    monkeypatch.setattr(syn_mod, "_ii_features", lambda *a: chunks.append(a[-1]) or real(*a))
    monkeypatch.setattr(syn_mod, "SET_BYTES", 100_000)  # 5 sets of 5 images of 4,000 bytes
    np.testing.assert_allclose(np.asarray(syn_mod.ii_of_sets(idx, colour.pairwise, feats)), whole, rtol=1e-6)
    assert chunks == [5]
