import numpy as np

from jaxinterp import similarity


def test_colour_is_negated_distance_of_mean_colours(rng):
    a, b = rng.random((4, 3, 3, 3)), rng.random((6, 3, 3, 3))
    S = similarity.matrix(similarity.colour, similarity.colour.featurize(a, None),
                          similarity.colour.featurize(b, None))
    ref = -np.linalg.norm(a.mean((1, 2))[:, None] - b.mean((1, 2))[None], axis=-1)
    np.testing.assert_allclose(S, ref, rtol=1e-5, atol=1e-6)


def test_label_similarity_is_equality():
    S = similarity.matrix(similarity.label, np.array([0, 1, 1]))
    np.testing.assert_array_equal(S, [[1, 0, 0], [0, 1, 1], [0, 1, 1]])


def test_get_unknown_lists_known():
    import pytest

    with pytest.raises(ValueError, match="colour"):
        similarity.get("lpips-9000")
