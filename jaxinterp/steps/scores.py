"""Score tasks over a direction set: the Interpretability Index (more in :mod:`jaxinterp.recipes.paper`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterp.steps.similarity import SimilaritySpec, build, features
from jaxinterp.steps.specs import DataSpec
from jaxinterp.tasks import Result, Task


@dataclasses.dataclass(frozen=True)
class IIConfig:
    similarity: SimilaritySpec
    data: DataSpec
    m: int = 5
    ties: str = "lowest_index"  # or "numpy": the paper's argsort (scores.ii.top_exemplars_all)


def _ii(ctx, config: IIConfig, directions) -> Result:
    from jaxinterp.scores.ii import interpretability_index_all

    f = directions.arrays["activations"]
    ii = np.asarray(interpretability_index_all(f, build(config.similarity),
                                               features(config.similarity, config.data), m=config.m,
                                               ties=config.ties))
    return Result({"ii": ii}, {"similarity": config.similarity.name, "m": config.m, "k": int(ii.size),
                               "mean_ii": float(np.mean(ii)), "median_ii": float(np.median(ii))})


def ii_task(directions: Task, similarity: SimilaritySpec, data: DataSpec, m: int = 5,
            ties: str = "lowest_index") -> Task:
    """Task -> ``{"ii": [k]}``: the II of every direction of a fit task (or of a capture's neurons).

    ``ties="numpy"`` picks the top-M images among equal activations as the paper's code does."""
    from jaxinterp.scores.ii import TIES

    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    return Task("ii", IIConfig(similarity, data, m, ties), _ii, {"directions": directions})
