"""``parley corpus stats DIR``: a Markdown report of a corpus with matplotlib plots.

Hours of kept speech per source, corpus, voice or speaker, split, emotion (the strongest of a row's mix) and
augmentation step; phone coverage (seconds of labelled frames per phone, over the masked frames of every
shard); label ranges (ARKit channel means and maxima, joint angle, root and lip-offset ranges) streamed shard
by shard so a large corpus is never loaded at once; skipped rows with their reasons.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from engine.training.corpus.shards import PHONE_LABELS, Corpus, read_manifest
from rigs.core.arkit import ARKIT_NAMES
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError

STATS_DIR = "stats"
REPORT_FILE = "report.md"
TOP_VOICES = 40            # bars in the per-voice plot
SAMPLE_FRAMES = 200_000    # frames sampled for label percentiles


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("corpus stats draws with matplotlib: pip install 'parley[study]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _strongest_emotion(mix: dict) -> str:
    if not mix:
        return "neutral"
    return max(sorted(mix), key=lambda k: mix[k])


def hours_by(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{grouping: {value: hours}} of the kept rows."""
    out: dict[str, dict[str, float]] = {k: defaultdict(float) for k in
                                        ("source", "corpus", "voice", "split", "emotion", "augmentation")}
    for r in rows:
        if r.get("status") != "ok":
            continue
        h = float(r["duration_s"]) / 3600.0
        out["source"][r["source"]] += h
        out["corpus"][r["corpus"]] += h
        out["voice"][r["voice"]] += h
        out["split"][r["split"]] += h
        out["emotion"][_strongest_emotion(r.get("emotion") or {})] += h
        ops = [op["op"] for op in r.get("augment") or []]
        for op in ops or ["clean"]:
            out["augmentation"][op] += h
    return {k: dict(sorted(v.items(), key=lambda kv: -kv[1])) for k, v in out.items()}


class _Running:
    """Streaming min / max / mean / RMS of an array's last axes, plus a random sample of rows."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.n = 0
        self.lo = self.hi = self.sum = self.sq = None
        self.sample: list[np.ndarray] = []

    def add(self, x: np.ndarray) -> None:
        if x.shape[0] == 0:
            return
        x = x.astype(np.float64)
        lo, hi = x.min(axis=0), x.max(axis=0)
        self.lo = lo if self.lo is None else np.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else np.maximum(self.hi, hi)
        s, q = x.sum(axis=0), (x ** 2).sum(axis=0)
        self.sum = s if self.sum is None else self.sum + s
        self.sq = q if self.sq is None else self.sq + q
        self.n += x.shape[0]
        k = min(x.shape[0], max(1, SAMPLE_FRAMES // 50))
        self.sample.append(x[self.rng.choice(x.shape[0], size=k, replace=False)])

    @property
    def mean(self):
        return self.sum / max(self.n, 1)


def label_stats(corpus: Corpus) -> dict:
    """Per-target statistics over the masked (real) frames of every shard, and frames per phone."""
    rng = np.random.default_rng(0)
    expr, joints, root, lips = _Running(rng), _Running(rng), _Running(rng), _Running(rng)
    phones = np.zeros(len(PHONE_LABELS) + 1, np.int64)     # last bin: unknown (-1)
    frames = 0
    for sh in corpus.shards:
        mask = np.asarray(sh["mask"], bool)                # (N, W)
        m = mask.reshape(-1)
        frames += int(m.sum())
        ph = np.asarray(sh["phones"]).reshape(-1)[m].astype(np.int64)
        phones += np.bincount(np.where(ph < 0, len(PHONE_LABELS), ph), minlength=len(PHONE_LABELS) + 1)
        expr.add(np.asarray(sh["expression"]).reshape(-1, len(ARKIT_NAMES))[m])
        ja = np.asarray(sh["joint_angles"])
        joints.add(np.linalg.norm(ja.astype(np.float32), axis=-1).reshape(-1, ja.shape[2])[m])
        root.add(np.asarray(sh["root_translation"]).reshape(-1, 3)[m] * 1000.0)
        lo = np.asarray(sh["lip_offsets_mm"])
        lips.add(np.linalg.norm(lo.astype(np.float32), axis=-1).reshape(-1, lo.shape[2])[m].max(axis=1, keepdims=True))
    return {"frames": frames, "phones": phones, "expression": expr, "joints": joints, "root": root, "lips": lips}


def _bar(plt, values: dict[str, float], title: str, ylabel: str, path: Path, *, rotate: bool = True) -> None:
    fig, ax = plt.subplots(figsize=(max(5.0, 0.28 * len(values) + 2.0), 3.6))
    ax.bar(range(len(values)), list(values.values()), color="#4472c4")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(list(values), rotation=90 if rotate else 0, fontsize=7)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(values: dict[str, float], unit: str, fmt: str = "{:.3f}") -> list[str]:
    lines = [f"| | {unit} |", "|---|---:|"]
    lines += [f"| {k} | {fmt.format(v)} |" for k, v in values.items()]
    return lines


def write_report(corpus_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Write ``report.md`` and its PNG plots into ``out`` (default ``DIR/stats``); returns the report path."""
    plt = _plt()
    corpus = Corpus(corpus_dir)
    try:
        rows = read_manifest(corpus_dir)
    except OSError as e:
        raise ConfigError(f"{corpus_dir}: no manifest ({e}); finish the build with `parley corpus build`") from None
    out = Path(out) if out is not None else Path(corpus_dir) / STATS_DIR
    out.mkdir(parents=True, exist_ok=True)
    hours = hours_by(rows)
    ls = label_stats(corpus)
    fps = corpus.spec.fps
    kept = [r for r in rows if r.get("status") == "ok"]
    skipped = [r for r in rows if r.get("status") != "ok"]
    lines = [f"# Corpus report: {Path(corpus_dir).name}", "",
             f"{len(kept)} rows kept, {len(skipped)} skipped; {sum(hours['split'].values()):.3f} h of labelled "
             f"speech in {len(corpus)} windows of {corpus.spec.window_s:g} s "
             f"({ls['frames'] / fps / 3600.0:.3f} h of real frames).", ""]
    plots = []
    for key, title in (("source", "Hours per source"), ("corpus", "Hours per corpus"), ("split", "Hours per split"),
                       ("emotion", "Hours per strongest emotion"), ("augmentation", "Hours per augmentation step"),
                       ("voice", "Hours per voice / speaker")):
        vals = hours[key]
        if key == "voice" and len(vals) > TOP_VOICES:
            vals = dict(list(vals.items())[:TOP_VOICES])
        if key == "emotion":
            vals = {e: hours[key].get(e, 0.0) for e in EMOTIONS}
        png = f"hours_{key}.png"
        _bar(plt, vals, title, "hours", out / png)
        plots.append(png)
        lines += [f"## {title}", "", f"![{title}]({png})", "", *_table(vals, "hours"), ""]
    # phones
    ph = {lab: ls["phones"][i] / fps for i, lab in enumerate(PHONE_LABELS)}
    _bar(plt, ph, "Seconds per phone (labelled frames)", "s", out / "phones.png")
    plots.append("phones.png")
    missing = [lab for lab in PHONE_LABELS if ls["phones"][PHONE_LABELS.index(lab)] == 0]
    lines += ["## Phone coverage", "", "![phones](phones.png)", "",
              f"{len(PHONE_LABELS) - len(missing)} of {len(PHONE_LABELS)} labels present"
              + (f"; missing: {', '.join(missing)}" if missing else "") +
              f"; {ls['phones'][-1] / fps:.1f} s of frames without a phone.", "",
              *_table(ph, "seconds", "{:.1f}"), ""]
    # label ranges
    e = ls["expression"]
    if e.n:
        fig, ax = plt.subplots(figsize=(12, 3.6))
        x = np.arange(len(ARKIT_NAMES))
        ax.bar(x, e.hi, color="#c9d6ee", label="max")
        ax.bar(x, e.mean, color="#4472c4", label="mean")
        ax.set_xticks(x)
        ax.set_xticklabels(ARKIT_NAMES, rotation=90, fontsize=6)
        ax.set_title("ARKit expression weights (real frames)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "expression.png", dpi=110)
        plt.close(fig)
        plots.append("expression.png")
        j, r, lp = ls["joints"], ls["root"], ls["lips"]
        lip_sample = np.concatenate(lp.sample)[:, 0]
        fig, ax = plt.subplots(figsize=(5, 3.4))
        ax.hist(lip_sample, bins=60, color="#4472c4")
        ax.set_xlabel("largest lip-vertex offset in a frame (mm)")
        ax.set_ylabel("frames (sample)")
        fig.tight_layout()
        fig.savefig(out / "lip_offsets.png", dpi=110)
        plt.close(fig)
        plots.append("lip_offsets.png")
        lines += ["## Label ranges (real frames)", "", "![expression](expression.png)", "",
                  "![lip offsets](lip_offsets.png)", "",
                  "| target | min | mean | p99 | max |", "|---|---:|---:|---:|---:|",
                  f"| expression (any channel) | {e.lo.min():.3f} | {e.mean.mean():.3f} | "
                  f"{np.percentile(np.concatenate(e.sample), 99):.3f} | {e.hi.max():.3f} |",
                  f"| joint rotation angle (deg, any joint) | {np.degrees(j.lo.min()):.2f} | "
                  f"{np.degrees(j.mean.mean()):.2f} | {np.degrees(np.percentile(np.concatenate(j.sample), 99)):.2f} | "
                  f"{np.degrees(j.hi.max()):.2f} |",
                  *[f"| root translation {ax_} (mm) | {r.lo[i]:.1f} | {r.mean[i]:.1f} | "
                    f"{np.percentile(np.concatenate(r.sample)[:, i], 99):.1f} | {r.hi[i]:.1f} |"
                    for i, ax_ in enumerate("xyz")],
                  f"| largest lip offset (mm) | {lp.lo[0]:.2f} | {lp.mean[0]:.2f} | "
                  f"{np.percentile(lip_sample, 99):.2f} | {lp.hi[0]:.2f} |", ""]
    if skipped:
        reasons = Counter(r.get("reason", "").split(":")[0] for r in skipped)
        lines += ["## Skipped rows", "", "| reason | rows |", "|---|---:|",
                  *[f"| {k} | {n} |" for k, n in reasons.most_common()], ""]
    report = out / REPORT_FILE
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report
