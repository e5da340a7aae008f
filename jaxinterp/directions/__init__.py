"""Direction sets in activation space: ``fit(key, acts, ...) -> State``; ``transform(state, acts)``.

Neurons are a direction set too, so every score takes any of them alike.
"""

from jaxinterp.directions import kmeans, neurons
from jaxinterp.directions.kmeans import KMeans, KMeansState, unit_rows
from jaxinterp.directions.neurons import NeuronsState

__all__ = ["KMeans", "KMeansState", "NeuronsState", "kmeans", "neurons", "unit_rows"]
