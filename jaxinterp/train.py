"""A small optax training loop for image classifiers, checkpointed with orbax.

The shuffle of epoch ``e`` is drawn from ``fold_in(key, e)``, so a run that is
interrupted and resumed from its last checkpoint reproduces the uninterrupted
run exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from tqdm.auto import tqdm

from jaxinterp import _optax
from jaxinterp.data.checks import check_images, to_unit_float
from jaxinterp.models.base import ImageModel, init


class _TrainState(NamedTuple):
    """params, batch_stats: model variables; opt_state: optax state; epoch: epochs completed []."""

    params: dict
    batch_stats: dict
    opt_state: optax.OptState
    epoch: jax.Array


def _loss(model, params, batch_stats, x, y):
    logits, updates = model.apply(
        {"params": params, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"]
    )
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, updates["batch_stats"]


def _make_step(model, tx):
    @jax.jit
    def step(state: _TrainState, images01, labels):
        x = model.normalize(images01)
        (loss, batch_stats), grads = jax.value_and_grad(
            lambda p: _loss(model, p, state.batch_stats, x, labels), has_aux=True
        )(state.params)
        params, opt_state = _optax.step(tx, grads, state.opt_state, state.params)
        return state._replace(params=params, batch_stats=batch_stats, opt_state=opt_state), loss

    return step


def accuracy(model: ImageModel, variables, images, labels, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on uint8/float NHWC ``images``."""
    from jaxinterp.capture import capture

    logits = capture(model, variables, images, ["logits"], batch_size=batch_size, progress=False)
    return float(np.mean(np.argmax(logits["logits"], -1) == np.asarray(labels)))


def train(
    model: ImageModel,
    key: jax.Array,
    images,
    labels,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[dict, list[float]]:
    """Train ``model`` with Adam and return ``(variables, mean loss per epoch run now)``.

    With ``checkpoint_dir``, the state is saved after every epoch and a later
    call resumes from the last saved epoch (a finished run returns at once).
    ``callback(epoch, mean_loss)`` runs after each epoch's checkpoint is written.
    """
    check_images(images, channels=model.IN_CHANNELS)
    labels = np.asarray(labels, np.int64)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    images01 = to_unit_float(images)
    n = len(images01)
    batch_size = min(batch_size, n)
    steps_per_epoch = n // batch_size

    init_key, shuffle_key = jax.random.split(key)
    variables = init(model, init_key, images01.shape[1])
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, epochs * steps_per_epoch))
    state = _TrainState(
        variables["params"], variables.get("batch_stats", {}),
        tx.init(variables["params"]), jnp.asarray(0, jnp.int32),
    )

    manager = None
    if checkpoint_dir is not None:
        manager = ocp.CheckpointManager(
            Path(checkpoint_dir).absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True),
        )
        last = manager.latest_step()
        if last is not None:
            abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
            state = manager.restore(last, args=ocp.args.StandardRestore(abstract))

    step = _make_step(model, tx)
    history = []
    start_epoch = int(state.epoch)
    for epoch in range(start_epoch, epochs):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n))
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"train epoch {epoch + 1}/{epochs}",
                   disable=not progress, leave=False)
        for i in bar:
            idx = order[i * batch_size:(i + 1) * batch_size]
            state, loss = step(state, images01[idx], labels[idx])
            losses.append(loss)
        history.append(float(np.mean(jax.device_get(losses))))
        state = state._replace(epoch=jnp.asarray(epoch + 1, jnp.int32))
        if manager is not None:
            manager.save(epoch + 1, args=ocp.args.StandardSave(state))
            manager.wait_until_finished()
        if callback is not None:
            callback(epoch + 1, history[-1])
    if manager is not None:
        manager.wait_until_finished()
        manager.close()
    return {"params": state.params, "batch_stats": state.batch_stats}, history
