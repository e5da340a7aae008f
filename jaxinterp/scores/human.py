"""Agreement of in-silico psychophysics with human data (METHODS.md §3.3, seed Fig. 2).

Human responses come from the IMI release (Zimmermann et al. 2023,
``responses_main.csv``). Each trial shows max_0..max_9 and min_0..min_9 of one
unit; 0–8 are references and 9 the query on each side. With S the similarity
among those 20 images (images 0–9 = max_0..9, 10–19 = min_0..9)::

    log0   = max_{k<9} S[k, 9]  + max_{10<=k<19} S[k, 19]   # evidence for the correct assignment
    log1   = max_{k<9} S[k, 19] + max_{10<=k<19} S[k, 9]
    margin = log0 - log1
    AUC    = ROC-AUC(y_true = human correct, y_score = margin)   per stage (layer1..layer4)
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxinterp.scores._checks import check_finite

REQUIRED_COLUMNS = ("model", "layer", "channel", "batch", "task_id", "correct", "confidence",
                    "catch_trial", "is_demo")


def _bool(values) -> np.ndarray:
    truth = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
    out = []
    for v in values:
        key = str(v).strip().lower()
        if key not in truth:
            raise ValueError(f"expected a boolean (True/False/1/0) in the responses table, got {v!r}")
        out.append(truth[key])
    return np.asarray(out, bool)


def load_responses(path_or_rows, model: str = "resnet50", task: str = "natural",
                   confidence: int | None = None) -> dict[str, np.ndarray]:
    """Read and filter a responses table in the IMI release's format.

    Keeps catch_trial == False, is_demo == False, ``task`` in task_id and model == ``model``
    (and confidence == ``confidence`` if given: the notebook's per-layer cells used 3).

    Args:
      path_or_rows: a CSV path, or an iterable of dict rows.

    Returns:
      columns as arrays: model, layer, stage (layer1..layer4), channel, batch, task_id,
      correct (bool), confidence (int).
    """
    if isinstance(path_or_rows, (str, Path)):
        with open(path_or_rows, newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            rows = list(reader)
    else:
        rows = list(path_or_rows)
        header = list(rows[0].keys()) if rows else []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"the responses table lacks column(s) {missing}; an IMI responses_main.csv has "
            f"{list(REQUIRED_COLUMNS)} (found {list(header)})"
        )
    cols = {c: np.asarray([r[c] for r in rows], object) for c in REQUIRED_COLUMNS}
    keep = (~_bool(cols["catch_trial"])) & (~_bool(cols["is_demo"]))
    keep &= np.array([task in str(t) for t in cols["task_id"]], bool)
    keep &= np.array([str(m) == model for m in cols["model"]], bool)
    conf = np.asarray([int(float(c)) for c in cols["confidence"]], np.int64)
    if confidence is not None:
        keep &= conf == confidence
    out = {
        "model": cols["model"][keep].astype(str),
        "layer": cols["layer"][keep].astype(str),
        "channel": np.asarray([int(float(c)) for c in cols["channel"][keep]], np.int64),
        "batch": np.asarray([int(float(b)) for b in cols["batch"][keep]], np.int64),
        "task_id": cols["task_id"][keep].astype(str),
        "correct": _bool(cols["correct"][keep]),
        "confidence": conf[keep],
    }
    out["stage"] = np.asarray([layer.split(".")[0] for layer in out["layer"]], str)
    return out


@jax.jit
def _margin(S):
    log0 = jnp.max(S[:, :9, 9], axis=1) + jnp.max(S[:, 10:19, 19], axis=1)
    log1 = jnp.max(S[:, :9, 19], axis=1) + jnp.max(S[:, 10:19, 9], axis=1)
    return log0 - log1


def evidence_margin(S: Float[ArrayLike, " n 20 20 *layers"], layer: int | None = None
                    ) -> Float[Array, " n"]:
    """In-silico evidence margin of trials: S [n, 20, 20] (or per layer [n, 20, 20, L]) -> [n].

    A per-layer S is averaged over layers, or ``layer`` picks one.
    """
    S = jnp.asarray(S)
    if S.ndim not in (3, 4) or S.shape[1:3] != (20, 20):
        raise ValueError(f"trial similarities must be [n, 20, 20] or [n, 20, 20, L] "
                         f"(max_0..9 then min_0..9), got shape {S.shape}; compute the "
                         "similarity among each trial's 20 images in that order")
    check_finite(S, "trial similarities", rows="trial", cols="image")
    if S.ndim == 4:
        S = jnp.mean(S, axis=-1) if layer is None else S[..., layer]
    return _margin(S)


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve; ties count one half (the Mann–Whitney form, as sklearn)."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(y_score, np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and y_score must have one length, got {y.shape} and {s.shape}; "
                         "pass one score per trial")
    check_finite(s, "y_score", rows="trial")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs both correct and incorrect trials; only one class is present")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size, np.float64)
    # midranks of tied blocks
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    mid = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mid, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def agreement(table: Mapping[str, np.ndarray], margins: Mapping[tuple, float]) -> dict[str, float]:
    """ROC-AUC of the in-silico margin against human correctness, per stage and overall.

    Args:
      table: :func:`load_responses` output.
      margins: (layer, channel, batch) -> margin of that trial's images.

    Returns:
      {stage: AUC, ..., "all": AUC}; stages with a single class are left out.
    """
    keys = list(zip(table["layer"], table["channel"].tolist(), table["batch"].tolist()))
    missing = sorted({k for k in keys if k not in margins})
    if missing:
        raise ValueError(f"no in-silico margin for {len(missing)} trial(s), e.g. {missing[:3]}; "
                         f"compute evidence_margin for every (layer, channel, batch) of the table")
    score = np.asarray([margins[k] for k in keys], np.float64)
    check_finite(score, "in-silico margins (in table order)", rows="trial")
    out = {}
    for stage in sorted(set(table["stage"].tolist())):
        sel = table["stage"] == stage
        if 0 < table["correct"][sel].sum() < sel.sum():
            out[stage] = roc_auc(table["correct"][sel], score[sel])
    out["all"] = roc_auc(table["correct"], score)
    return out
