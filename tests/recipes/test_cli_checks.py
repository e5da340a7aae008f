"""`paper`, `roles` and `sweep` refuse bad arguments up front, naming the flag and the fix."""

from __future__ import annotations

import pytest

from jaxinterp import cli
from tests.fixtures import paper_fixture, roles_fixture


@pytest.fixture(scope="module")
def paper_args(tmp_path_factory):
    return paper_fixture(tmp_path_factory.mktemp("p"))


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_paper_limit_must_be_positive(paper_args, tmp_path, capsys, limit):
    assert cli.main([*paper_args, "--limit", limit, "--out", str(tmp_path / "o")]) == 2
    assert "--limit must be a positive number of images" in capsys.readouterr().err


def test_paper_default_k_larger_than_the_data_names_the_flag(paper_args, tmp_path, capsys):
    args = [a for a in paper_args if a not in ("--k", "8")]
    assert cli.main([*args, "--limit", "8", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--k 8 or fewer" in err and "layer's width" in err
    assert not (tmp_path / "o").exists()  # refused before any work


def test_out_naming_a_file_is_refused(paper_args, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main([*paper_args, "--out", str(tmp_path / "file")]) == 2
    assert "is a file; pass a directory" in capsys.readouterr().err
    roles_args = roles_fixture(tmp_path)
    assert cli.main([*roles_args, "--out", str(tmp_path / "file")]) == 2
    assert "is a file; pass a directory" in capsys.readouterr().err


def test_too_few_images_for_psychophysics_is_said_before_the_work(paper_args, tmp_path, capsys):
    assert cli.main([*paper_args, "--limit", "30", "--no-sae-sweep", "--no-gradients",
                     "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert out.index("warning: 30 images are too few for psychophysics") < out.index("[1/")


@pytest.mark.parametrize("command,flags", [
    ("paper", ["--similarity", "--seed", "--k", "--limit"]),
    ("roles", ["--samples", "--levels", "--seed", "--mlp-hidden", "--images"]),
])
def test_help_states_every_default_without_markup(command, flags, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "``" not in text and "METHODS" not in text
    for flag in flags:
        after = text.split(f"{flag} ", 2)[-1][:400]
        assert "default" in after, flag


def test_paper_reproduce_draws_trials_as_the_paper(paper_args, tmp_path):
    """--reproduce: the hard/soft scores equal psychophysics_scores(reproduce=True) on the same activations."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxinterp import similarity
    from jaxinterp.recipes.paper import _tasks_that_fit
    from jaxinterp.scores.psychophysics import psychophysics_scores

    out = tmp_path / "o"
    assert cli.main([*paper_args, "--limit", "60", "--reproduce", "--no-sae-sweep", "--no-gradients",
                     "--out", str(out)]) == 0
    arrays = np.load(out / "arrays.npz")
    images = np.load(paper_args[paper_args.index("--data") + 1])["images"][:60].astype(np.float32) / 255
    feats = similarity.colour.featurize(jnp.asarray(images), None)
    quantiles = tuple(float(q) for q in arrays["psy_quantiles"])
    t = _tasks_that_fit(arrays["acts"], 0.0)
    assert t >= 1
    res = psychophysics_scores(jax.random.key(123), jnp.asarray(arrays["acts"]), similarity.colour, feats, 0.0,
                               trials=t, hard_pool="max", reproduce=True, paper_quantiles=quantiles)
    np.testing.assert_array_equal(arrays["psy_neurons_colour"][0], np.asarray(res.hard))
    np.testing.assert_array_equal(arrays["psy_soft_neurons_colour"][0], np.asarray(res.soft_mean))
    # the II's top images among tied activations are numpy's argsort's, as in the paper's code
    acts = arrays["acts"]
    d = np.asarray(similarity.colour.pairwise(feats, feats))
    paper_ii = [d[np.argsort(acts[:, u])[-5:]][:, np.argsort(acts[:, u])[-5:]].mean() for u in range(acts.shape[1])]
    np.testing.assert_allclose(arrays["ii_neurons_colour"], paper_ii, rtol=1e-5, atol=1e-7)
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert "RandomState(42)" in summary["psychophysics_scores"]["trials_drawn_as"]
