"""The batch on a Ray cluster (``--ray auto|local|ADDRESS``): the same lines, results and output layout as
local workers, with Ray actors as the workers.

Each actor (:class:`engine.batch.work.LineActor`, one CPU) builds its animators once and takes one line at a
time; the recording travels with the line (its bytes), and the files come back to the driver, which writes
them and the results table as in a local run, so no node needs the driver's disk. An actor that dies under
a line is replaced and the line retried once (:mod:`engine.batch.retry`). Every node needs Parley and its
data (``PARLEY_DATA``) installed; the driver passes its ``PYTHONPATH``, ``PARLEY_DATA`` and ``PARLEY_CACHE`` to
the job's workers (with this checkout's root first on ``PYTHONPATH``).

``auto`` joins the running cluster (``RAY_ADDRESS`` or one started with ``ray start``) or, when there is none,
starts a local instance in this process; ``local`` always starts a local instance; anything else is a
cluster address (``127.0.0.1:6379``, ``ray://host:10001``). A two-command local cluster::

    ray start --head --num-cpus 2
    parley batch lines.csv --out out/ --ray 127.0.0.1:6379

Reference: Ray documentation, "Actors", "ray.wait", "Fault tolerance: actor process failure",
``ray.init`` (address resolution, ``runtime_env``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from engine.batch.retry import after_death
from engine.batch.work import LineActor, LineResult, LineTask
from rigs.core.errors import ConfigError, one_line

log = logging.getLogger(__name__)

FORWARDED_ENV = ("PYTHONPATH", "PARLEY_DATA", "PARLEY_CACHE")
RAY_INSTALL_HINT = 'the --ray option needs Ray: pip install "ray>=2.9" (or pip install "parley[scale]")'


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _connect(address: str, workers: int | None):
    """Initialise Ray for ``address``; returns (ray, whether this call started it)."""
    if not ray_available():
        raise ConfigError(RAY_INSTALL_HINT)
    import ray

    if ray.is_initialized():   # the caller (a test, a notebook) already chose the cluster
        return ray, False
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    # a checkout that is not installed: its root, so the workers import this same engine
    root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([root, *[p for p in paths if p != root]])
    kwargs = dict(runtime_env={"env_vars": env} if env else None, log_to_driver=False, logging_level=logging.WARNING,
                  include_dashboard=False)
    where = None if address == "auto" else address
    if where == "local" and workers:
        kwargs["num_cpus"] = int(workers)
    try:
        with keep_signal_handlers():
            ray.init(address=where, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = ""
        if any("AuthToken" in str(e) or "Authentication" in type(e).__name__ for e in _chain(exc)):
            hint = ("; the cluster asks for its token: set RAY_AUTH_MODE=token (the token `ray start` made is in "
                    "~/.ray/auth_token; see Ray's token authentication documentation)")
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {one_line(exc)}{hint}") from None
    return ray, True


@contextlib.contextmanager
def keep_signal_handlers(signums=(signal.SIGINT, signal.SIGTERM)):
    """Put back the SIGINT/SIGTERM handlers ``ray.init`` replaces, so Parley's own signal handling (clean-up,
    exit 130/143: rigs.core.signals) stays in charge of the driver process."""
    saved = {s: signal.getsignal(s) for s in signums}
    try:
        yield
    finally:
        for s, handler in saved.items():
            if handler is not None:
                signal.signal(s, handler)


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def run_ray(tasks: Iterable[LineTask], *, address: str, workers: int | None = None,
            factory: Callable | None = None) -> Iterator[LineResult]:
    """Animate ``tasks`` on Ray actors (``workers`` of them; default one per CPU of the cluster); yields each
    line's result as it comes."""
    pending = deque(tasks)
    if not pending:
        return
    ray, started = _connect(address, workers)
    from ray.exceptions import RayActorError, WorkerCrashedError

    remote = ray.remote(num_cpus=1, max_restarts=0)(LineActor)
    n = workers or int(ray.cluster_resources().get("CPU", 1))
    n = max(1, min(n, len(pending)))
    idle = [remote.remote(factory) for _ in range(n)]
    running: dict = {}              # object ref -> (actor, task)
    try:
        while pending or running:
            while pending and idle:
                task = pending.popleft()
                if task.audio_bytes is None:
                    try:
                        task = dataclasses.replace(task, audio_bytes=Path(task.audio_path).read_bytes())
                        if task.partner_path is not None:
                            task = dataclasses.replace(task, partner_bytes=Path(task.partner_path).read_bytes())
                    except OSError as exc:
                        yield LineResult(id=task.id, ok=False, attempt=task.attempt,
                                         error=f"cannot read audio file {exc.filename}: {exc.strerror or exc}")
                        continue
                actor = idle.pop()
                running[actor.run.remote(task)] = (actor, task)
            if not running:
                continue
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                actor, task = running.pop(ref)
                try:
                    result = ray.get(ref)
                except (RayActorError, WorkerCrashedError) as exc:
                    how = f"died ({type(exc).__name__})"
                    log.warning("a Ray worker %s on line %s", how, task.id)
                    ray.kill(actor, no_restart=True)
                    idle.append(remote.remote(factory))
                    retry = after_death(task, how)
                    if isinstance(retry, LineResult):
                        yield retry
                    else:
                        pending.appendleft(retry)
                    continue
                idle.append(actor)
                yield result
    finally:
        for actor in idle + [a for a, _ in running.values()]:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # an actor already gone
                pass
        if started:
            ray.shutdown()
