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


def test_colour_features_check_images_as_capture_does(rng):
    import jax
    import pytest

    images = rng.random((5, 8, 8, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"looks NCHW: transpose with images.transpose\(0, 2, 3, 1\)"):
        similarity.colour.featurize(images.transpose(0, 3, 1, 2), None)
    with pytest.raises(ValueError, match=r"float images must lie in \[0, 1\].*look like 0..255 pixels: divide by 255"):
        similarity.colour.featurize(images * 255, None)
    with pytest.raises(ValueError, match=r"normalised"):
        similarity.colour.featurize((images - 0.5) / 0.25, None)
    with pytest.raises(ValueError, match="rank 4"):
        similarity.colour.featurize(images[0], None)
    with pytest.raises(ValueError, match="uint8 .0..255. or float"):
        similarity.colour.featurize(images.astype(np.int32), None)
    # uint8 pixels are scaled as capture scales them: the same features as the float image
    pixels = (images * 255).round().astype(np.uint8)
    np.testing.assert_allclose(similarity.colour.featurize(pixels, None),
                               (pixels / 255.0).mean((1, 2)), rtol=1e-6)
    # traced (jit) calls still work: shape and dtype are checked, values are not inspectable
    np.testing.assert_allclose(jax.jit(lambda x: similarity.colour.featurize(x, None))(images),
                               images.mean((1, 2)), rtol=1e-6)
    # the unchecked kernel stays available for the authors' normalised tensors
    np.testing.assert_allclose(similarity.mean_colour(images * 255), (images * 255).mean((1, 2)), rtol=1e-5)
