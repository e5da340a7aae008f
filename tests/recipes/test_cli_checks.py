"""`paper`, `roles` and `sweep` refuse bad arguments up front, naming the flag and the fix."""

from __future__ import annotations

import pytest

from jaxinterp import cli
from tests.golden.fixtures import paper_fixture, roles_fixture


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
