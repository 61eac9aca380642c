"""``parley batch MANIFEST.csv --out DIR`` and ``parley batch export DIR --csv OUT.csv``: the parser and the
handler (engine/cli.py adds them with two lines).

Exit codes: 0 when every line is done, 1 when the batch ran but some lines failed or rows were rejected
(their reasons are in the results), 2 for an error that stops the batch (an unreadable manifest, a full
disk), 130/143 after Ctrl-C/SIGTERM (the lines done so far stay done; run the same command to go on).
"""
from __future__ import annotations

import argparse
import json
import sys

BATCH_HELP = """\
Animate many dialogue lines from a CSV manifest (columns: id, audio; optional transcript, emotion, mode, model,
character, seed, partner) into DIR/clips/ID.npz (and DIR/bvh/, DIR/livelink/), with a results table in
DIR/results.sqlite. Running the same command again skips the lines already done with the same inputs and
settings and retries the rest. `parley batch export DIR --csv OUT.csv` writes the results table as CSV."""
BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} lines [{elapsed}<{remaining}, {rate_fmt}]{postfix}"
BAR_MIN_INTERVAL_S = 0.25


def add_parser(sub) -> None:
    """Add ``batch`` to the ``parley`` subcommands."""
    from engine.animators.registry import ANIMATORS, DEFAULT_MODE

    b = sub.add_parser("batch", help="animate a CSV manifest of dialogue lines (resumable; local or Ray)",
                       description=BATCH_HELP,
                       usage="parley batch MANIFEST.csv --out DIR [options]\n       parley batch export DIR --csv OUT.csv")
    b.add_argument("manifest", metavar="MANIFEST.csv", help="the manifest (or 'export')")
    b.add_argument("export_dir", nargs="?", metavar="DIR", help=argparse.SUPPRESS)
    b.add_argument("--out", metavar="DIR", help="output folder (created; the same folder resumes a batch)")
    b.add_argument("--workers", type=int, metavar="N", help="worker processes (default: one per CPU; 0: in this process)")
    b.add_argument("--ray", metavar="auto|local|ADDRESS",
                   help="run on a Ray cluster: 'auto' joins the running one (or starts a local one), 'local' "
                   "starts one here, or a cluster address such as 127.0.0.1:6379")
    b.add_argument("--bvh", action="store_true", help="also write DIR/bvh/ID.bvh")
    b.add_argument("--livelink", action="store_true", help="also write DIR/livelink/ID.csv (Live Link Face)")
    b.add_argument("--mode", default=DEFAULT_MODE, choices=ANIMATORS.names(),
                   help="the animator of rows without a mode (see `parley modes`)")
    b.add_argument("--seed", type=int, default=0, help="seed of rows without one (default 0)")
    b.add_argument("--fps", type=float, default=30.0, help="clip frame rate (default 30)")
    b.add_argument("--no-body", action="store_true", help="leave the body at rest")
    b.add_argument("--csv", metavar="OUT.csv", help="with `export`: the CSV file to write")
    b.add_argument("--progress-json", action="store_true", help="JSON-lines progress on stderr")


class LineBar:
    """Progress of a batch as one bar of lines on stderr, with lines/s and the time left."""

    def __init__(self, *, file=None):
        self.file = file if file is not None else sys.stderr
        self.bar = None

    def __call__(self, done: int, total: int, failed: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            if total == 0:
                return
            self.bar = tqdm(total=total, desc="batch", file=self.file, mininterval=BAR_MIN_INTERVAL_S,
                            bar_format=BAR_FORMAT, unit="line", leave=True, dynamic_ncols=True)
        if failed:
            self.bar.set_postfix_str(f"{failed} failed", refresh=False)
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _json_progress(done: int, total: int, failed: int) -> None:
    sys.stderr.write(json.dumps({"stage": "batch", "progress": round(done / total, 4) if total else 1.0,
                                 "done": done, "total": total, "failed": failed}) + "\n")
    sys.stderr.flush()


def run(ns) -> int:
    """The ``batch`` handler."""
    from rigs.core.errors import ConfigError

    if ns.manifest == "export":
        if not ns.export_dir or not ns.csv:
            raise ConfigError("usage: parley batch export DIR --csv OUT.csv")
        from engine.batch.store import export_csv

        lines, rejected = export_csv(ns.export_dir, ns.csv)
        print(ns.csv)
        return 0
    if ns.export_dir:
        raise ConfigError(f"unexpected argument {ns.export_dir!r} (one manifest a batch)")
    if not ns.out:
        raise ConfigError("give the output folder: --out DIR")
    from engine.batch.job import BatchConfig, run_batch

    config = BatchConfig(mode=ns.mode, fps=float(ns.fps), seed=int(ns.seed), body=not ns.no_body, bvh=ns.bvh,
                         livelink=ns.livelink, workers=ns.workers, ray=ns.ray)
    bar = None if ns.progress_json else LineBar()
    try:
        if bar is None:
            summary = run_batch(ns.manifest, ns.out, config=config, progress=_json_progress)
        else:
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm():   # warnings above the bar, not through it
                summary = run_batch(ns.manifest, ns.out, config=config, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    rate = summary.done / summary.wall_s if summary.wall_s > 0 else 0.0
    print(f"{summary.done} done, {summary.skipped} already done, {summary.failed} failed, {summary.rejected} "
          f"rejected, {summary.warnings} with warnings; {summary.audio_s:.1f} s of audio in {summary.wall_s:.1f} s "
          f"({rate:.2f} lines/s); results: {summary.results}")
    return 0 if summary.failed == 0 and summary.rejected == 0 else 1
