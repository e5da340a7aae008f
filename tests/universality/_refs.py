"""numpy references written independently of jaxinterp (Kornblith et al.'s CKA code, brute-force k-NN)."""

from __future__ import annotations

import numpy as np


def gram_linear(x):
    return x @ x.T


def gram_rbf(x, threshold=1.0):
    dot = x @ x.T
    sq_norms = np.diag(dot)
    sq_distances = -2 * dot + sq_norms[:, None] + sq_norms[None, :]
    sq_median_distance = np.median(sq_distances)
    return np.exp(-sq_distances / (2 * threshold**2 * sq_median_distance))


def center_gram(gram, unbiased=False):
    gram = gram.copy()
    if unbiased:
        n = gram.shape[0]
        np.fill_diagonal(gram, 0)
        means = np.sum(gram, 0) / (n - 2)
        means -= np.sum(means) / (2 * (n - 1))
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0)
    else:
        means = np.mean(gram, 0)
        means -= np.mean(means) / 2
        gram -= means[:, None]
        gram -= means[None, :]
    return gram


def cka(gram_x, gram_y, debiased=False):
    gx = center_gram(gram_x, debiased)
    gy = center_gram(gram_y, debiased)
    return gx.ravel() @ gy.ravel() / (np.linalg.norm(gx) * np.linalg.norm(gy))


def hsic_unbiased(K, L):
    """Song et al. 2012, Eq. (5), written out term by term."""
    n = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ Kt @ Lt @ one) / (n * (n - 3))


def knn_sets(x, k, metric="cosine"):
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        s = x @ x.T
    else:
        s = -((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(s, -np.inf)
    return [set(np.argsort(-row, kind="stable")[:k]) for row in s]


def mutual_knn(x, y, k, metric="cosine"):
    a, b = knn_sets(x, k, metric), knn_sets(y, k, metric)
    return np.mean([len(p & q) / k for p, q in zip(a, b)])


def layers(rng, n=40):
    """Two 'models' of 3 and 4 layers of different widths with shared latent structure."""
    z = rng.standard_normal((n, 6))
    a = {"a0": z @ rng.standard_normal((6, 5)) + 0.3 * rng.standard_normal((n, 5)),
         "a1": np.maximum(z @ rng.standard_normal((6, 8)), 0) + 2.0,
         "a2": rng.standard_normal((n, 3))}
    b = {"b0": z[:, :3] @ rng.standard_normal((3, 4)),
         "b1": np.tanh(z @ rng.standard_normal((6, 7))) + 0.5 * rng.standard_normal((n, 7)),
         "b2": z[:, :2] ** 2,
         "b3": rng.standard_normal((n, 9))}
    return ({k: v.astype(np.float32) for k, v in a.items()}, {k: v.astype(np.float32) for k, v in b.items()})
