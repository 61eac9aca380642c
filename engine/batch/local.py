"""Worker processes on this machine for a batch (``--workers N``).

Each worker is a ``spawn``-ed process with its own pipe (so the driver always knows which line a worker holds)
that builds its animators once and then takes one line at a time. The driver waits on the pipes and the
processes' sentinels together: a worker that dies mid-line (``kill -9``, out of memory, a crash in native
code) is noticed at once, replaced by a new one, and its line retried once (:mod:`engine.batch.retry`).
Workers ignore Ctrl-C (the terminal sends it to the whole process group): the driver stops them when it
stops, and a worker whose driver vanished (``kill -9``) exits when its pipe closes.

Reference: Python documentation, ``multiprocessing`` (contexts and start methods, ``Pipe``,
``connection.wait``, ``Process.sentinel``).
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from engine.batch.retry import after_death
from engine.batch.work import AnimatorCache, LineResult, LineTask, animate_line

log = logging.getLogger(__name__)

START_METHOD = "spawn"         # no inherited locks or threads from the driver (fork is unsafe with threads)
STOP_TIMEOUT_S = 5.0           # how long a stopping worker may take before it is killed
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# BLAS/OpenMP threads of a worker (unless the user sets them): one, as Ray gives a one-CPU actor. A batch is
# parallel in its workers; and BLAS sums in an order that depends on its thread count, so this keeps the files
# byte for byte the same on local workers and on Ray (2 threads against 1 moved lip vertices by 7e-9 m).
THREADS_PER_WORKER = 1


def _worker_main(conn, factory) -> None:
    """A worker's loop: a task in, a result out, until the pipe closes or None arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    animators = AnimatorCache(factory)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        result = animate_line(task, animators)
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, ctx, factory):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, factory), daemon=True,
                                name="parley-batch-worker")
        self.proc.start()
        child.close()
        self.task: LineTask | None = None

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.proc.join(STOP_TIMEOUT_S if self.task is None else 0.1)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def died_how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


@contextlib.contextmanager
def _threads_per_worker(n: int) -> Iterator[None]:
    """Children started in the block use ``n`` BLAS/OpenMP threads each (unless the user set it)."""
    old = {k: os.environ.get(k) for k in THREAD_VARS}
    for k in THREAD_VARS:
        os.environ.setdefault(k, str(n))
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)


def run_local(tasks: Iterable[LineTask], *, workers: int, factory: Callable | None = None
              ) -> Iterator[LineResult]:
    """Animate ``tasks`` on ``workers`` processes; yields each line's result as it comes (any order).
    ``workers=0`` animates in this process (for debugging: no isolation from crashes, and this process's own
    BLAS threads, so the last bits of float results may differ from a run on workers)."""
    pending = deque(tasks)
    if workers == 0:
        animators = AnimatorCache(factory)
        while pending:
            yield animate_line(pending.popleft(), animators)
        return
    ctx = multiprocessing.get_context(START_METHOD)
    n = max(1, min(workers, len(pending)))
    pool: list[_Worker] = []
    try:
        while pending or any(w.task is not None for w in pool):
            for w in pool:
                if w.task is None and pending:
                    w.task = pending.popleft()
                    w.conn.send(w.task)
            while pending and len(pool) < n:
                with _threads_per_worker(THREADS_PER_WORKER):
                    w = _Worker(ctx, factory)
                pool.append(w)
                w.task = pending.popleft()
                w.conn.send(w.task)
            busy = [w for w in pool if w.task is not None]
            ready = set(multiprocessing.connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
            for w in busy:
                if w.conn not in ready and w.proc.sentinel not in ready:
                    continue
                result = None
                try:
                    if w.conn.poll():
                        result = w.conn.recv()
                except (EOFError, OSError):
                    result = None
                if result is not None:
                    w.task = None
                    yield result
                    continue
                if w.proc.is_alive():   # readable but nothing whole yet: wait again
                    continue
                task, w.task = w.task, None
                how = died_how(w.proc.exitcode)
                log.warning("worker %s %s on line %s", w.proc.pid, how, task.id)
                w.stop()
                pool.remove(w)
                retry = after_death(task, how)
                if isinstance(retry, LineResult):
                    yield retry
                else:
                    pending.appendleft(retry)
    finally:
        for w in pool:
            w.stop()
