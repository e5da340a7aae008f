"""Universality (Olah et al. 2020, claim 3): how alike two models' layers and units are.

* :mod:`.cka`: linear and RBF CKA of one pair of representations (unbiased HSIC);
* :mod:`.cka_pairs`: CKA of every layer pair of two models in one streamed pass;
* :mod:`.cca`: SVCCA and PWCCA; :mod:`.knn`: mutual k-NN alignment;
* :mod:`.matching`: unit matching (max correlation, Hungarian, mutual best matches);
* :mod:`.stack`: the layers of one model as one padded array (what the all-pairs kernels scan);
* :mod:`.analysis`: :func:`compare`, every measure between two models' captured activations,
  behind ``jaxinterp compare`` (its tasks: :mod:`jaxinterp.recipes.compare`; its page:
  :mod:`jaxinterp.report.universality`, which only reads what :func:`save` wrote).
"""

from jaxinterp.universality import analysis, cca, cka, cka_pairs, knn, matching, stack
from jaxinterp.universality.analysis import MEASURES, compare, default_layers, save
from jaxinterp.universality.cca import canonical_correlations, cca_all_pairs, pwcca, svcca
from jaxinterp.universality.cka import cka_from_grams, gram_linear, gram_rbf, hsic, linear_cka, rbf_cka
from jaxinterp.universality.cka_pairs import (
    LinearCKAStats,
    LinearPlan,
    cka_all_pairs,
    linear_init,
    linear_plan,
    linear_result,
    linear_update,
)
from jaxinterp.universality.knn import mutual_knn, mutual_knn_all_pairs, neighbours
from jaxinterp.universality.matching import (
    Matching,
    match_hungarian,
    match_max,
    mutual_best,
    unit_correlations,
)

__all__ = [
    "LinearCKAStats",
    "LinearPlan",
    "MEASURES",
    "Matching",
    "analysis",
    "canonical_correlations",
    "cca",
    "cca_all_pairs",
    "cka",
    "cka_all_pairs",
    "cka_from_grams",
    "cka_pairs",
    "compare",
    "default_layers",
    "gram_linear",
    "gram_rbf",
    "hsic",
    "knn",
    "linear_cka",
    "linear_init",
    "linear_plan",
    "linear_result",
    "linear_update",
    "match_hungarian",
    "match_max",
    "matching",
    "mutual_best",
    "mutual_knn",
    "mutual_knn_all_pairs",
    "neighbours",
    "pwcca",
    "rbf_cka",
    "save",
    "stack",
    "svcca",
    "unit_correlations",
]
