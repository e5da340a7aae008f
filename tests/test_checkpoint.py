"""checkpoint: `~` is expanded, and a missing or misplaced checkpoint names the right fix."""

import jax
import numpy as np
import pytest

from jaxinterp import models
from jaxinterp.checkpoint import load_variables, save_variables


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # an unexpanded "~" would resolve to tmp_path / "~"
    return tmp_path


def test_user_home_is_expanded(home):
    variables = models.init(models.get("small_cnn"), jax.random.key(0))
    out = save_variables("~/ck", variables, {"arch": "small_cnn"})
    assert out == home / "ck" and not (home / "~").exists()
    restored, meta = load_variables("~/ck")
    assert meta == {"arch": "small_cnn"}
    jax.tree_util.tree_map(np.testing.assert_array_equal, variables, restored)


def test_missing_demo_cache_says_run_the_demo(home):
    with pytest.raises(FileNotFoundError, match=r"the folder does not exist; this is the demo model's "
                                                r"cache folder: run `jaxinterp demo` once") as err:
        load_variables("~/.cache/jaxinterp/small_cnn-digits-e15-s0")
    assert str(home / ".cache/jaxinterp/small_cnn-digits-e15-s0") in str(err.value)


def test_other_missing_or_misplaced_checkpoints(home):
    with pytest.raises(FileNotFoundError, match=r"does not exist; write one with `jaxinterp convert"):
        load_variables(home / "nothing")
    (home / "r20.pth").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"is a file.*pass the folder.*converted with `jaxinterp convert`"):
        load_variables(home / "r20.pth")
    save_variables(home / "runs" / "a", {"w": np.ones(2)}, {})
    with pytest.raises(FileNotFoundError, match=r"holds the checkpoint folder\(s\) \['a'\]: pass one of them"):
        load_variables(home / "runs")


def test_save_refuses_an_existing_file(home):
    (home / "taken").write_text("x")
    with pytest.raises(FileExistsError, match="a file of that name exists; pass a new folder name"):
        save_variables(home / "taken", {"w": np.ones(2)}, {})
