"""``parley corpus build | stats``: the command-line face of the corpus builder (imported lazily by
:mod:`engine.cli`)."""
from __future__ import annotations

import argparse
import json
import sys

BUILD_HELP = """\
Build a training corpus: real transcribed speech (force-aligned) and synthetic speech (exact phone times),
labelled by the phonetic teacher, cut into fixed-length windows in memory-mappable shards with a JSON-lines
manifest. Deterministic (same --seed, same manifest and checksums) and resumable (run it again after a
kill: finished shards are kept)."""


def add_parser(sub) -> None:
    """Add ``corpus`` with its steps to the ``parley`` subparsers ``sub``."""
    c = sub.add_parser("corpus", help="build and describe training corpora", description=BUILD_HELP)
    cs = c.add_subparsers(dest="corpus_command", metavar="STEP")
    cs.required = True
    b = cs.add_parser("build", help="build (or resume) a corpus", description=BUILD_HELP)
    b.add_argument("--out", required=True, metavar="DIR", help="corpus folder (new, empty, or a build to resume)")
    b.add_argument("--minutes", type=float, required=True, help="minutes of source speech (before takes and "
                   "augmented copies)")
    b.add_argument("--seed", type=int, default=0, help="seed of everything random in the build (default 0)")
    b.add_argument("--sources", default="real,synthetic", help="comma-separated: real, synthetic, pseudo "
                   "(untranscribed LibriSpeech speakers labelled by recognition; default real,synthetic)")
    b.add_argument("--real-share", type=float, default=0.5, metavar="F", help="with both sources: at most this "
                   "share of --minutes is real speech (all of it when there is less), synthetic fills the rest "
                   "(default 0.5)")
    b.add_argument("--augment", type=int, default=0, metavar="K", help="augmented copies per take (default 0)")
    b.add_argument("--takes", type=int, default=1, metavar="T", help="seeded teacher takes per audio (default 1)")
    b.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    b.add_argument("--shard-rows", type=int, default=16, metavar="R", help="manifest rows per shard (default 16)")
    b.add_argument("--progress-json", action="store_true", help="JSON-lines progress on stderr")
    t = cs.add_parser("timing", help="synthesiser phone times against forced alignment, per voice")
    t.add_argument("--per-voice", type=int, default=5, metavar="N", help="sentences per voice (default 5)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", action="store_true", help="JSON lines instead of a Markdown table")
    cp = cs.add_parser("captures", help="a fine-tuning corpus from your own captures (FACEGOOD or Live Link)")
    src = cp.add_mutually_exclusive_group(required=True)
    src.add_argument("--facegood", metavar="FOLDER", help="FACEGOOD takes (<id>.wav + bs_value_<id>.npy)")
    src.add_argument("--livelink", metavar="FOLDER", help="Live Link Face takes (CSV + audio of the same stem)")
    cp.add_argument("--out", required=True, metavar="DIR", help="corpus folder (new or empty)")
    cp.add_argument("--holdout", default="", metavar="ID,...", help="takes kept whole for the test split")
    cp.add_argument("--seed", type=int, default=0)
    s = cs.add_parser("stats", help="Markdown report with plots of a corpus")
    s.add_argument("corpus", metavar="DIR")
    s.add_argument("--out", metavar="REPORT_DIR", help="where to write report.md and its plots "
                   "(default DIR/stats)")


def run(ns: argparse.Namespace) -> int:
    return {"build": _build, "stats": _stats, "timing": _timing, "captures": _captures}[ns.corpus_command](ns)


def _build(ns) -> int:
    from engine import console
    from engine.training.corpus.build import BuildConfig, build_corpus

    config = BuildConfig(minutes=ns.minutes, seed=ns.seed,
                         sources=tuple(s.strip() for s in ns.sources.split(",") if s.strip()),
                         takes=ns.takes, augment=ns.augment, jobs=ns.jobs, shard_rows=ns.shard_rows,
                         real_share=ns.real_share)
    command = "parley corpus build " + " ".join(sys.argv[3:]) if sys.argv[1:3] == ["corpus", "build"] else ""
    if ns.progress_json:
        summary = build_corpus(ns.out, config, progress=console.json_progress(), command=command)
    else:
        with console.StageBars() as bars:
            summary = build_corpus(ns.out, config, progress=bars, command=command)
    print(json.dumps(summary, sort_keys=True))
    return 0


def _captures(ns) -> int:
    from engine.training.corpus.captures import build_capture_corpus

    fmt, folder = ("facegood", ns.facegood) if ns.facegood else ("livelink", ns.livelink)
    holdout = tuple(h.strip() for h in ns.holdout.split(",") if h.strip())
    print(json.dumps(build_capture_corpus(ns.out, folder, fmt=fmt, holdout=holdout, seed=ns.seed,
                                          command="parley " + " ".join(sys.argv[1:])), sort_keys=True))
    return 0


def _stats(ns) -> int:
    from engine.training.corpus.stats import write_report

    print(write_report(ns.corpus, out=ns.out))
    return 0


def _timing(ns) -> int:
    from dataclasses import asdict

    from engine.training.corpus.crosscheck import markdown, timing_disagreement
    from rigs.core.errors import ConfigError

    if ns.per_voice < 1:
        raise ConfigError(f"--per-voice must be 1 or more, got {ns.per_voice}")
    rows = timing_disagreement(per_voice=ns.per_voice, seed=ns.seed)
    if ns.json:
        for r in rows:
            print(json.dumps(asdict(r)))
    else:
        print(markdown(rows))
    return 0
