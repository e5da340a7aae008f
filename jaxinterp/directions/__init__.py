"""Direction sets in activation space: ``fit(key, acts, ...) -> State``; ``transform(state, acts)``.

Neurons are a direction set too, so every score takes any of them alike. Fit one by name on
raw activations with :func:`fit_by_name`, which gives each set the input METHODS §1.4 prescribes
(:mod:`jaxinterp.directions.registry`); the modules' own ``fit`` take that input as given.
"""

from jaxinterp.directions import ica, kmeans, minibatch_kmeans, neurons, nmf, pca, sae
from jaxinterp.directions.ica import FastICA, ICAState
from jaxinterp.directions.kmeans import KMeans, KMeansState, unit_rows
from jaxinterp.directions.minibatch_kmeans import MiniBatchKMeans, MiniBatchKMeansState
from jaxinterp.directions.neurons import NeuronsState
from jaxinterp.directions.nmf import NMF, NMFState
from jaxinterp.directions.pca import PCA, PCAState
from jaxinterp.directions.registry import DIRECTION_SETS, DirectionSet, Fitted, fit_by_name
from jaxinterp.directions.sae import SAEConfig, SAEState, SparseAutoencoder

__all__ = [
    "DIRECTION_SETS",
    "DirectionSet",
    "FastICA",
    "Fitted",
    "ICAState",
    "KMeans",
    "KMeansState",
    "MiniBatchKMeans",
    "MiniBatchKMeansState",
    "NMF",
    "NMFState",
    "NeuronsState",
    "PCA",
    "PCAState",
    "SAEConfig",
    "SAEState",
    "SparseAutoencoder",
    "fit_by_name",
    "ica",
    "kmeans",
    "minibatch_kmeans",
    "neurons",
    "nmf",
    "pca",
    "sae",
    "unit_rows",
]
