"""The one retry rule of both worker pools: a line whose worker dies is given to a new worker once more,
then recorded as failed with how the worker died."""
from __future__ import annotations

import dataclasses

from engine.batch.work import LineResult, LineTask

WORKER_DEATH_ATTEMPTS = 2        # a line is tried at most this often when its worker dies under it


def after_death(task: LineTask, how: str) -> LineTask | LineResult:
    """The retry of ``task`` after its worker died (``how``: "was killed by SIGKILL"), or its failure."""
    if task.attempt < WORKER_DEATH_ATTEMPTS:
        return dataclasses.replace(task, attempt=task.attempt + 1)
    return LineResult(id=task.id, ok=False, attempt=task.attempt,
                      error=f"the worker process {how} while animating this line, {task.attempt} times; "
                      "giving up on it")
