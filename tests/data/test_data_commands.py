"""Every command's --data takes every kind of dataset (with --labels and --split where it needs them)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import cli, models
from jaxinterp.checkpoint import save_variables
from jaxinterp.data.cifar10 import write_cifar10_batch
from tests.data.images import tiny, write_flat, write_folder

COMMANDS = ("evaluate", "paper", "roles", "featvis", "circuits", "compare")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmd")
    images, labels = tiny()
    model = models.get("small_cnn_rgb")
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    save_variables(root / "p", variables, {"arch": "small_cnn_rgb"})
    write_folder(root / "folder", images, labels)
    write_flat(root / "flat", images, labels)
    np.savez(root / "d.npz", images=images, labels=labels)
    np.save(root / "images.npy", images)
    np.save(root / "labels.npy", labels)
    (root / "cifar" / "cifar-10-batches-py").mkdir(parents=True)
    write_cifar10_batch(root / "cifar" / "cifar-10-batches-py" / "test_batch", images, labels)
    logits = model.apply(variables, model.normalize(jnp.asarray(images, jnp.float32) / 255))
    return root, int((np.argmax(logits, -1) == labels).sum())


@pytest.mark.parametrize("data", [["folder"], ["flat", "--labels", "flat/labels.csv"], ["d.npz"],
                                  ["images.npy", "--labels", "labels.npy"], ["cifar", "--split", "test"]])
def test_evaluate_reads_every_kind(setup, capsys, data):
    root, correct = setup
    argv = ["evaluate", "--arch", "small_cnn_rgb", "--params", str(root / "p"), "--batch-size", "8",
            "--data", str(root / data[0]), *[a if a.startswith("--") or a == "test" else str(root / a)
                                              for a in data[1:]]]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out) == {"accuracy": correct / 20, "correct": correct, "n": 20}


def test_evaluate_needs_labels(setup, capsys):
    root, _ = setup
    argv = ["evaluate", "--arch", "small_cnn_rgb", "--params", str(root / "p"),
            "--data", str(root / "images.npy")]
    assert cli.main(argv) == 2
    assert "images.npy has no labels; an accuracy needs one class per image" in capsys.readouterr().err


def test_every_command_takes_labels_and_split(capsys):
    for command in COMMANDS:
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--labels LABELS" in text and "--split {test,train}" in text, command
        assert "one subfolder per class" in text, command
