"""One streaming engine for every pass of a model over a dataset (see :mod:`.engine`)."""

from jaxinterp.stream.engine import Taps, stream, stream_map
from jaxinterp.stream.reducers import (Reducer, bottom_k, collect, combine, fanout, histogram, minmax, moments,
                                      pick, top_k, total)
from jaxinterp.stream.sources import ArraySource, IterableSource, Source, as_source, images_at

__all__ = [
    "ArraySource",
    "IterableSource",
    "Reducer",
    "Source",
    "Taps",
    "as_source",
    "images_at",
    "bottom_k",
    "collect",
    "combine",
    "fanout",
    "histogram",
    "minmax",
    "moments",
    "pick",
    "stream",
    "stream_map",
    "top_k",
    "total",
]
