"""Which process of a job array this is, from the launcher's environment."""

from __future__ import annotations

import pytest

from jaxinterp.parallel import distributed

_VARS = [v for names in distributed._ARRAY_VARS for v in names if v]


@pytest.fixture
def env(monkeypatch):
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)

    def set_(**values):
        for var in _VARS:
            monkeypatch.delenv(var, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(f"SLURM_ARRAY_TASK_{name}", str(value))

    return set_


def test_a_slurm_array_with_a_step_maps_onto_every_index_once(env):
    """--array=0-15:4 runs IDs 0, 4, 8, 12 (COUNT 4): indices 0..3; --array=3-11:4 likewise."""
    for lo, hi, step in ((0, 12, 4), (3, 11, 4), (5, 8, 1)):
        ids = range(lo, hi + 1, step)
        got = []
        for task in ids:
            env(ID=task, COUNT=len(ids), MIN=lo, MAX=hi, STEP=step)
            got.append(distributed.job_array())
        assert got == [(i, len(ids), "SLURM_ARRAY_TASK_ID") for i in range(len(ids))]
    env(ID=8, COUNT=4, MIN=0)  # no STEP: a step of 1 (Slurm before it set one), and 8 is out of range
    with pytest.raises(ValueError, match="JAXINTERP_PROCESS_ID=I and JAXINTERP_NUM_PROCESSES=N.*--process-id"):
        distributed.job_array()


@pytest.mark.parametrize("task", [1, 5, 9])
def test_a_listed_slurm_array_says_how_to_name_the_process(env, task):
    """--array=1,5,9 (no step): no ID can be trusted, not even the first, which maps in range."""
    env(ID=task, COUNT=3, MIN=1, MAX=9)
    with pytest.raises(ValueError, match="cannot tell this process's index in \\[0, 3\\).*SLURM_ARRAY_TASK_ID="
                                         f"{task}.*set JAXINTERP_PROCESS_ID"):
        distributed.job_array()
    env(ID=task, COUNT=3, MIN=1, MAX=9, STEP=3)  # a step that does not reach the IDs
    with pytest.raises(ValueError, match="cannot tell"):
        distributed.job_array()
