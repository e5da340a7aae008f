"""The `jaxinterp` command around its subcommands: user errors and Ctrl-C in one line, no traceback."""

import pytest

from jaxinterp import cli
from jaxinterp.commands import demo


def _raising(exc):
    def run(args):
        raise exc
    return run


ARGV = {"demo": ["demo"], "evaluate": ["evaluate", "--arch", "a", "--params", "p", "--data", "d"],
        "paper": ["paper", "--arch", "a", "--params", "p", "--data", "d", "--layer", "l", "--out", "o"],
        "sweep": ["sweep", "c.py", "--out", "o"],
        "featvis": ["featvis", "--arch", "a", "--params", "p", "--data", "d", "--layer", "l", "--out", "o"]}


@pytest.mark.parametrize("command", ["demo", "evaluate", "paper", "sweep", "featvis"])
def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys, command, tmp_path):
    module = __import__(f"jaxinterp.commands.{command}", fromlist=["run"])
    monkeypatch.setattr(module, "run", _raising(KeyboardInterrupt()))
    assert cli.main(ARGV[command]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"jaxinterp {command}: interrupted; rerun the same command")
    resumes = command != "evaluate"  # demo checkpoints its training; paper, sweep, featvis keep a results store
    assert ("to resume" in err) == resumes != ("start again" in err)
    assert ("results store" in err) == (command in ("paper", "sweep", "featvis"))


def test_sigterm_prints_one_line_and_exits_143(monkeypatch, capsys):
    """`sweep` raises cli.Terminated on SIGTERM (cli.stop_on_sigterm): a line, exit 143."""
    from jaxinterp.commands import sweep

    monkeypatch.setattr(sweep, "run", _raising(cli.Terminated()))
    assert cli.main(ARGV["sweep"]) == 143
    err = capsys.readouterr().err
    assert err == ("jaxinterp sweep: terminated (SIGTERM); rerun the same command to resume: every finished "
                   "step is saved in the results store (see --status)\n")


@pytest.mark.parametrize("exc", [FileExistsError("exists"), NotADirectoryError("not a dir"),
                                 IsADirectoryError("is a dir"), ValueError("bad"), FileNotFoundError("gone")])
def test_user_errors_print_without_traceback(monkeypatch, capsys, exc):
    monkeypatch.setattr(demo, "run", _raising(exc))
    assert cli.main(["demo"]) == 2
    assert capsys.readouterr().err == f"jaxinterp demo: error: {exc}\n"


def test_demo_out_naming_a_file_fails_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAXINTERP_CACHE", str(tmp_path / "cache"))
    (tmp_path / "report").write_text("mine")
    assert cli.main(["demo", "--out", str(tmp_path / "report"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out must be a folder, got the existing file" in err and "Traceback" not in err
    assert not (tmp_path / "cache").exists()  # nothing trained
    assert cli.main(["demo", "--out", str(tmp_path / "report" / "sub"), "--no-progress"]) == 2
    assert "which is a file, not a folder" in capsys.readouterr().err


def test_sweep_says_its_config_runs_as_code(capsys):
    """The README and `sweep --help` warn that a config file is executed: only trusted ones."""
    from pathlib import Path

    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert "`jaxinterp sweep` runs the config file as Python code" in readme
    assert "only run configs you wrote or trust" in readme
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--help"])
    assert "run as Python code" in " ".join(capsys.readouterr().out.split())


def test_the_parser_has_one_subcommand_per_command_module():
    """Every module of jaxinterp/commands (but the private ones) is a subcommand, with its help."""
    import argparse
    from pathlib import Path

    import jaxinterp.commands

    modules = {p.stem for p in Path(jaxinterp.commands.__file__).parent.glob("*.py") if not p.stem.startswith("_")}
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == modules
    assert all(sub.choices[name].format_help().startswith(f"usage: jaxinterp {name}") for name in modules)
    args = cli.build_parser().parse_args(ARGV["paper"])
    assert (args.command, args.arch, args.layer) == ("paper", "a", "l")


STORE_ARGV = {
    "paper": ARGV["paper"], "featvis": ARGV["featvis"],
    "roles": ["roles", "--arch", "a", "--params", "p", "--data", "d", "--layer", "l", "--out", "o"],
    "circuits": ["circuits", "--arch", "a", "--params", "p", "--data", "d", "--layer", "l", "--out", "o"],
    "atlas": ["atlas", "--arch", "a", "--params", "p", "--data", "d", "--out", "o"],
    "compare": ["compare", "--arch", "a", "--params", "p", "--arch", "b", "--params", "q", "--data", "d",
                "--out", "o"],
}


@pytest.mark.parametrize("command", sorted(STORE_ARGV))
def test_every_store_option_keeps_an_object_store_url(command):
    """--store gs://bucket/path reaches the store as written (a pathlib.Path folds '//' into '/')."""
    args = cli.build_parser().parse_args([*STORE_ARGV[command], "--store", "gs://bucket/runs"])
    assert args.store == "gs://bucket/runs"


def test_a_sweeps_out_keeps_an_object_store_url():
    args = cli.build_parser().parse_args(["sweep", "c.py", "--out", "gs://bucket/sweep"])
    assert str(args.out) == "gs://bucket/sweep" and str(args.out / "store") == "gs://bucket/sweep/store"


def test_name_lists_take_commas_and_spaces_as_typed():
    """--directions "kmeans, sae", --layers layer1,layer2 layer3: the atlas once kept ' sae'."""
    from jaxinterp.commands._options import names

    assert names("kmeans, sae") == ["kmeans", "sae"]
    assert names(["layer1,layer2", " layer3 ", ""]) == ["layer1", "layer2", "layer3"]
    assert names(None) is None and names("") == []
