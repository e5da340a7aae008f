"""The README's Quickstart runs as written (on a random small CNN instead of the demo's trained
one, which the first command caches), and its II equals the library's by another route."""

from __future__ import annotations

from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart() -> str:
    text = README.read_text()
    start = text.index("## Quickstart")
    block = text.index("```python\n", start) + len("```python\n")
    return text[block:text.index("```", block)]


def test_quickstart_runs_as_written():
    code = quickstart()
    line = next(s for s in code.splitlines() if s.startswith("variables, meta = load_variables("))
    code = code.replace(line, "variables = model.init(jax.random.key(0), np.zeros((1, 8, 8, 1), np.float32))")
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)  # noqa: S102 - our own README

    from jaxinterp import door, similarity
    from jaxinterp.data import load_digits
    from jaxinterp.scores import interpretability_index_all

    ds = load_digits("test")
    model = scope["model"]  # the model takes normalised images (its MEAN and STD)
    x = model.normalize(np.asarray(ds.images, np.float32) / 255.0)
    acts = door.taps(model, scope["variables"], x, ["relu2"])["relu2"]
    expected = interpretability_index_all(np.asarray(acts).mean((1, 2)), similarity.colour,
                                          similarity.colour.featurize(ds.images / 255.0, ds.labels), m=5)
    np.testing.assert_allclose(scope["ii_neurons"], expected, atol=1e-5)
    assert scope["F"].shape == (len(ds.images), 64)
