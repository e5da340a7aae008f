"""Minibatches as a function of the step, so that a resumed fit sees the same batches.

``data`` is an [n, d] array (numpy, a ``np.memmap``, or JAX): step ``t`` takes
rows of the permutation of epoch ``t // (n // batch_size)``, seeded by
``(seed, epoch)``; only the selected rows are read, so a memmap larger than
memory streams. Or ``data`` is a callable returning a fresh iterator of
[b, d] batches: resuming at step ``t`` skips the first ``t`` batches (the
callable must yield the same sequence each time). A plain iterator is accepted
too, but then a resumed fit cannot replay the batches it already consumed.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import jax
import numpy as np

from jaxinterp.directions._checks import check_acts


def seed_from_key(key: jax.Array) -> int:
    """A host integer seed derived from a JAX key (deterministic)."""
    return int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))


def is_array(data: Any) -> bool:
    return hasattr(data, "shape") and hasattr(data, "__getitem__")


class BatchSource:
    """``source.batch(step) -> [b, d] float32`` for arrays, or sequential batches of an iterator."""

    def __init__(self, data: Any, batch_size: int, seed: int):
        self.data, self.seed = data, seed
        if is_array(data):
            if len(data.shape) != 2:
                raise ValueError(f"data must be [n_samples, n_features], got shape {data.shape}")
            self.n, self.d = data.shape
            if self.n == 0:
                raise ValueError("data has no samples; pass at least one row")
            self.batch_size = min(batch_size, self.n)
            self.per_epoch = self.n // self.batch_size
            self._perm_epoch, self._perm = None, None
        elif callable(data):
            self.batch_size = batch_size
            self._iter, self._next_step = None, 0
        else:
            raise ValueError(
                f"data must be an [n, d] array/memmap or a callable returning an iterator of "
                f"[b, d] batches, got {type(data).__name__}; wrap an iterable as "
                "`lambda: iter(batches)` so it can be restarted on resume"
            )

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._perm_epoch != epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._perm_epoch = epoch
        return self._perm

    def rows(self, step: int) -> np.ndarray:
        """Sorted row indices [b] of step ``step``'s batch (array data only)."""
        epoch, i = divmod(step, self.per_epoch)
        return np.sort(self._permutation(epoch)[i * self.batch_size:(i + 1) * self.batch_size])

    def batch(self, step: int) -> np.ndarray:
        if is_array(self.data):
            out = np.asarray(self.data[self.rows(step)], np.float32)
        else:
            out = self._sequential(step)
        check_acts(out, f"batch {step}")
        return out

    def _sequential(self, step: int) -> np.ndarray:
        if self._iter is None or step < self._next_step:
            self._iter = iter(self.data())
            self._next_step = 0
        while self._next_step < step:  # resume: skip what the interrupted fit consumed
            next(self._iter)
            self._next_step += 1
        try:
            out = next(self._iter)
        except StopIteration:
            raise ValueError(
                f"the batch iterator ran out at step {step}; lower max_steps or make the "
                "callable yield more batches (e.g. loop over epochs)"
            ) from None
        self._next_step += 1
        return np.asarray(out, np.float32)

    def sample(self, n_rows: int) -> np.ndarray:
        """About ``n_rows`` rows for seeding (random rows of an array; leading batches of an iterator)."""
        if is_array(self.data):
            rows = np.sort(np.random.default_rng([self.seed, -1 % 2**32]).permutation(self.n)[:n_rows])
            out = np.asarray(self.data[rows], np.float32)
        else:
            it = iter(self.data())
            parts, have = [], 0
            while have < n_rows:
                try:
                    parts.append(np.asarray(next(it), np.float32))
                except StopIteration:
                    break
                have += parts[-1].shape[0]
            if not parts:
                raise ValueError("the batch iterator yielded nothing")
            out = np.concatenate(parts)[:n_rows]
        check_acts(out, "seeding sample")
        return out


def iterate(data: Any) -> Callable[[], Iterator]:
    """Wrap an iterable so it can be restarted: ``BatchSource(iterate(list_of_batches), ...)``."""
    return lambda: iter(data)
