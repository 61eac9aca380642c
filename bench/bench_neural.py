"""Issue 11's target table: the neural face next to the phonetic engine (with and without a transcript) and the
RMS baseline, on the same held-out clips, judged against references that do not come from the run under test.

1. **Real speech, held-out** (``--split held-out``, the default; ``bench/references.py``'s selection: the held-out
   LibriSpeech test-other speakers, the held-out LJ Speech and VCTK p239 utterances, jfk, sr_english), each clip
   judged against its committed reference alignment (``bench/refs/speech_corpus_phones.tsv``): closures on P/B/M,
   open vowels visibly open, vowels shut throughout (the guard), ``tongueOut`` false positives (frames of
   speech outside TH/DH above 0.2). Definitions: :mod:`engine.metrics.face`.
2. **FACEGOOD held-out clips** (1114_2_04, 1114_2_05; Mandarin, no transcript): the captured ARKit mouth and jaw
   weights and each face go through the same ICT FaceKit lip model (as in ``bench_lipsync.py``); LVE (mm) and
   its squared variant (mm^2), the vertical (inner lips at the centre, iBUG-68 62/66) and horizontal (mouth
   corners, 48/54) lip distance errors, inner-lip-gap and ``jawOpen`` correlations, next to a still, neutral face.
3. **Speed**: CPU seconds per audio second and the real-time factor (audio seconds per wall second) of each
   mode's ``animate`` (body off, in this process, math libraries on ``--threads`` threads, 2 by default: the
   issue's 2 cores), summed over the clips of 1 and 2; **peak memory** of a whole ``parley animate`` child
   process (``os.wait4``'s ``ru_maxrss``) on a long speech file (``--long-minutes``, 10 by default; built as
   ``bench_long.py`` builds it).

Modes: ``phonetic`` with the transcript and without it, ``neural`` (no transcript) found in the animator registry
(``engine.animators.registry.ANIMATORS``; ``--neural NAME[:MODEL]`` picks another registered name or a model
of it), and the RMS->jawOpen baseline. A mode that is not registered, not available here or fails to build (no
weights) is printed as "not available" with the reason, never an error.

Run: ``.venv/bin/python bench/bench_neural.py [--only corpus,facegood,speed,memory] [--split held-out]
[--modes phonetic-transcript,phonetic,neural,rms] [--neural neural] [--long-minutes 10] [--seeds 1]
[--json out.json]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
if __name__ == "__main__":   # before numpy loads its BLAS; --threads is read again below for the children
    _threads = "2"
    for _i, _a in enumerate(sys.argv):
        if _a.startswith("--threads="):
            _threads = _a.split("=", 1)[1]
        elif _a == "--threads" and _i + 1 < len(sys.argv):
            _threads = sys.argv[_i + 1]
    for _var in THREAD_VARS:
        os.environ.setdefault(_var, _threads)

import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT))

from references import (DEV, HELD_OUT, corpus_selection, facegood_captures,  # noqa: E402
                        read_corpus_references, with_references)
from scoring import rms_expression  # noqa: E402

from engine.metrics.face import (M_TO_MM, CaptureScores, PhoneScores, capture_scores,  # noqa: E402
                                 lip_distance_errors_mm, phone_scores, seed_diversity)

GROUPS = ("corpus", "facegood", "speed", "memory")
MODES = ("phonetic-transcript", "phonetic", "neural", "rms")
TITLES = {"phonetic-transcript": "phonetic, with transcript", "phonetic": "phonetic, no transcript",
          "neural": "neural, no transcript", "rms": "RMS->jawOpen baseline", "still": "still neutral face"}
# iBUG-68 landmarks (0-based) of the lip distances: inner lips at the mouth centre, the outer mouth corners
VERTICAL_LANDMARKS = (62, 66)
HORIZONTAL_LANDMARKS = (48, 54)
TARGETS = "closures >= 0.95, open vowels >= 0.95, tongueOut false positives < 2% (no transcript)"

log = logging.getLogger("bench_neural")


@dataclass
class ModeStats:
    """Time a mode spent animating, and on how much audio."""

    audio_s: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0


@dataclass
class Faces:
    """Builds each mode's animator once and animates clips with it (body off); keeps the time each mode took
    and why a mode is not available."""

    fps: float
    neural: str = "neural"
    neural_model: str | None = None
    animators: dict = field(default_factory=dict)
    why_not: dict = field(default_factory=dict)
    stats: dict = field(default_factory=lambda: defaultdict(ModeStats))

    def registry_name(self, mode: str) -> str | None:
        return {"phonetic-transcript": "phonetic", "phonetic": "phonetic", "neural": self.neural}.get(mode)

    def unavailable(self, mode: str) -> str | None:
        """Why ``mode`` cannot run here (None: it can); builds its animator on first call."""
        name = self.registry_name(mode)
        if name is None or name in self.animators:
            return None
        if name in self.why_not:
            return self.why_not[name]
        from engine.animators.registry import ANIMATORS
        from rigs.core.errors import ParleyError

        if name not in ANIMATORS.names():
            self.why_not[name] = f"no animator {name!r} is registered (registered: {', '.join(ANIMATORS.names())})"
            return self.why_not[name]
        try:
            model = self.neural_model if mode == "neural" else None
            self.animators[name] = ANIMATORS.create(name, model=model)
        except ParleyError as e:
            self.why_not[name] = str(e)
            return self.why_not[name]
        return None

    def expression(self, mode: str, audio, transcript: str | None, *, seed: int = 0) -> np.ndarray:
        """(T, 52) expression of ``mode`` for ``audio`` (float64)."""
        from engine.animators.base import AnimateRequest

        c0, t0 = time.process_time(), time.perf_counter()
        if mode == "rms":
            from engine.audio.prosody import FeatureConfig, analyze
            from rigs.core.arkit import ARKIT_INDEX

            rms = analyze(audio, fps=self.fps, config=FeatureConfig(use_silero=False)).rms
            out = rms_expression(np.asarray(rms), ARKIT_INDEX["jawOpen"])
        else:
            req = AnimateRequest(fps=self.fps, seed=seed, body=False,
                                 transcript=transcript if mode == "phonetic-transcript" else None)
            out = self.animators[self.registry_name(mode)].animate(audio, req).expression
        s = self.stats[mode]
        s.cpu_s += time.process_time() - c0
        s.wall_s += time.perf_counter() - t0
        s.audio_s += audio.duration_s
        return np.asarray(out, np.float64)


def _rate(num: int, den: int) -> str:
    return f"{num / den:.3f} ({num}/{den})" if den else "-"


def _na(why: str) -> str:
    return f"not available ({why.replace('|', '/')[:120]})"


# ----------------------------------------------------------------------------------------------
# 1. real speech against reference alignments


def run_corpus(faces: Faces, modes: list[str], split: str, limit: int) -> dict:
    """{(corpus, mode): PhoneScores} over the selection's ``split`` utterances (all with a reference)."""
    from engine.animators.lips import load_lip_model
    from engine.audio.load import load_audio
    from rigs.core.arkit import ARKIT_INDEX
    from rigs.core.files import data_root

    lm, tongue = load_lip_model(), ARKIT_INDEX["tongueOut"]
    items = with_references(corpus_selection(data_root()), read_corpus_references())
    if split != "all":
        items = [i for i in items if i.split == split]
    if limit:
        items = items[:: max(1, len(items) // limit)][:limit]
    rows: dict = defaultdict(PhoneScores)
    for k, it in enumerate(items):
        audio = load_audio(it.path)
        for mode in modes:
            if faces.unavailable(mode):
                continue
            expr = faces.expression(mode, audio, it.text)
            rows[(it.corpus, mode)] += phone_scores(lm.inner_lip_gap_m(lm.positions_m(expr)), expr[:, tongue],
                                                    it.reference, faces.fps)
        log.info("%d/%d %s", k + 1, len(items), it.utt_id)
    return dict(rows)


def print_corpus(rows: dict, faces: Faces, modes: list[str], split: str) -> list[dict]:
    print(f"\n### Real speech ({split} utterances) against reference alignments\n")
    print(f"Targets for the neural face (issue 11): {TARGETS}.\n")
    print("| corpus | mode | closures (P/B/M lips meet) | open vowels visibly open | tongueOut false positives | "
          "vowels shut throughout | false closures (lips meet inside other phones) |")
    print("|---|---|---|---|---|---|---|")
    out = []
    corpora = sorted({c for c, _ in rows})
    for corpus in corpora + ["**all**"]:
        for mode in modes:
            why = faces.unavailable(mode)
            if why:
                if corpus == "**all**":
                    print(f"| {corpus} | {TITLES[mode]} | {_na(why)} | | | | |")
                    out.append({"corpus": "all", "mode": mode, "available": False, "why": why})
                continue
            if corpus == "**all**":
                s = sum((sc for (c, m), sc in rows.items() if m == mode), PhoneScores())
            else:
                s = rows.get((corpus, mode), PhoneScores())
            tongue = f"{s.stray_tongue_rate:.2%}" if (s.speech_frames and mode != "rms") else "-"
            print(f"| {corpus} | {TITLES[mode]} | {_rate(s.closed, s.bilabials)} | {_rate(s.opened, s.open_vowels)} | "
                  f"{tongue} | {_rate(s.shut_vowels, s.vowels)} | {_rate(s.falsely_closed, s.judged_phones)} |")
            out.append({"corpus": corpus.strip("*"), "mode": mode, "available": True, **s.__dict__,
                        "closure_rate": s.closure_rate, "open_rate": s.open_rate,
                        "tongue_out_false_positive_rate": s.stray_tongue_rate,
                        "false_closure_rate": s.false_closure_rate})
    return out


# ----------------------------------------------------------------------------------------------
# 2. FACEGOOD real capture


def lip_landmark_positions(lm) -> tuple[tuple[int, int], tuple[int, int]]:
    """Positions within the lip model's vertices of the vertical and horizontal landmark pairs."""
    from rigs.ict import pack_path

    with np.load(pack_path(), allow_pickle=False) as z:
        landmarks = z["landmark68_verts"].astype(np.int64)
    where = {int(v): i for i, v in enumerate(lm.vertex_ids)}
    return (tuple(where[int(landmarks[k])] for k in VERTICAL_LANDMARKS),       # type: ignore[return-value]
            tuple(where[int(landmarks[k])] for k in HORIZONTAL_LANDMARKS))


@dataclass
class CaptureRow:
    scores: CaptureScores
    vertical_mm: float
    horizontal_mm: float


def run_facegood(faces: Faces, modes: list[str], split: str, seeds: int) -> list[dict]:
    from engine.animators.lips import load_lip_model
    from engine.audio.load import load_audio
    from rigs.core.arkit import ARKIT_INDEX
    from rigs.core.files import data_root

    lm, jaw = load_lip_model(), ARKIT_INDEX["jawOpen"]
    vertical, horizontal = lip_landmark_positions(lm)
    caps = [c for c in facegood_captures(data_root()) if split in ("all", c.split)]   # held-out: 04, 05
    faces_here = [m for m in modes if m != "phonetic-transcript"] + ["still"]   # Mandarin: no transcript
    per: dict[str, list[CaptureRow]] = defaultdict(list)
    diversity: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    out: list[dict] = []
    print(f"\n### FACEGOOD real capture ({', '.join(c.name for c in caps)}; Mandarin, no transcript; ICT FaceKit "
          "lip model)\n")
    print("| clip | face | LVE mm | LVE^2 mm^2 | lip vertical error mm | lip horizontal error mm | lip-gap corr | "
          "jawOpen corr |")
    print("|---|---|---|---|---|---|---|---|")
    for cap in caps:
        audio = load_audio(cap.wav)
        ref_v = lm.positions_m(cap.expression)
        ref_gap = lm.inner_lip_gap_m(ref_v)
        for face in faces_here:
            why = None if face == "still" else faces.unavailable(face)
            if why:
                print(f"| {cap.name} | {TITLES[face]} | {_na(why)} | | | | | |")
                out.append({"clip": cap.name, "face": face, "available": False, "why": why})
                continue
            expr = (np.zeros_like(cap.expression, np.float64) if face == "still"
                    else faces.expression(face, audio, None))
            v = lm.positions_m(expr)
            sc = capture_scores(v, ref_v, lm.inner_lip_gap_m(v), ref_gap, expr[:, jaw], cap.expression[:, jaw])
            vert, horz = lip_distance_errors_mm(v, ref_v, vertical=vertical, horizontal=horizontal)
            per[face].append(CaptureRow(sc, vert, horz))
            print(f"| {cap.name} | {TITLES[face]} | {sc.lve_mm:.2f} | {sc.lve_sq_mm2:.1f} | {vert:.2f} | {horz:.2f} | "
                  f"{sc.gap_corr:.3f} | {sc.jaw_corr:.3f} |")
            out.append({"clip": cap.name, "face": face, "available": True, **sc.__dict__,
                        "lip_vertical_error_mm": vert, "lip_horizontal_error_mm": horz})
            if seeds > 1 and face not in ("still", "rms"):
                takes = [expr] + [faces.expression(face, audio, None, seed=s) for s in range(1, seeds)]
                diversity[face].append((seed_diversity([lm.positions_m(x) for x in takes], scale=M_TO_MM),
                                        seed_diversity(takes), len(expr)))
    for face, rows in per.items():
        w = np.array([r.scores.frames for r in rows], np.float64)

        def mean(vals, w=w) -> float:
            return float(np.sum(w * np.asarray(vals, np.float64)) / w.sum())

        sc = [r.scores for r in rows]
        pooled = {"lve_mm": mean([s.lve_mm for s in sc]), "lve_sq_mm2": mean([s.lve_sq_mm2 for s in sc]),
                  "lip_vertical_error_mm": mean([r.vertical_mm for r in rows]),
                  "lip_horizontal_error_mm": mean([r.horizontal_mm for r in rows]),
                  "gap_corr": mean([s.gap_corr for s in sc]), "jaw_corr": mean([s.jaw_corr for s in sc]),
                  "frames": int(w.sum())}
        print(f"| **all** | {TITLES[face]} | {pooled['lve_mm']:.2f} | {pooled['lve_sq_mm2']:.1f} | "
              f"{pooled['lip_vertical_error_mm']:.2f} | {pooled['lip_horizontal_error_mm']:.2f} | "
              f"{pooled['gap_corr']:.3f} | {pooled['jaw_corr']:.3f} |")
        out.append({"clip": "all", "face": face, "available": True, **pooled})
    if diversity:
        print(f"\nDiversity across {seeds} seeds (mean pairwise distance between takes of the same clip):")
        for face, parts in diversity.items():
            w = np.array([n for _, _, n in parts], np.float64)
            lips = float(np.sum(w * [d for d, _, _ in parts]) / w.sum())
            expr = float(np.sum(w * [e for _, e, _ in parts]) / w.sum())
            print(f"- {TITLES[face]}: lip vertices {lips:.3f} mm, ARKit-52 vector {expr:.4f}")
            out.append({"clip": "all", "face": face, "seed_diversity_lips_mm": lips, "seed_diversity_expression": expr,
                        "seeds": seeds})
    return out


# ----------------------------------------------------------------------------------------------
# 3. speed and memory


def print_speed(faces: Faces, modes: list[str], threads: int) -> list[dict]:
    print(f"\n### Speed (animate in this process, body off, {threads} math threads)\n")
    print("| mode | audio s | CPU s | wall s | CPU s per audio s | x real time (wall) |")
    print("|---|---|---|---|---|---|")
    out = []
    for mode in modes:
        why = faces.unavailable(mode)
        s = faces.stats.get(mode)
        if why or s is None or s.audio_s == 0:
            print(f"| {TITLES[mode]} | {_na(why) if why else 'not run'} | | | | |")
            out.append({"mode": mode, "available": why is None, "why": why})
            continue
        print(f"| {TITLES[mode]} | {s.audio_s:.1f} | {s.cpu_s:.1f} | {s.wall_s:.1f} | {s.cpu_s / s.audio_s:.4f} | "
              f"{s.audio_s / max(s.wall_s, 1e-9):.1f} |")
        out.append({"mode": mode, "available": True, **s.__dict__, "cpu_s_per_audio_s": s.cpu_s / s.audio_s,
                    "x_real_time": s.audio_s / max(s.wall_s, 1e-9)})
    return out


def peak_memory(faces: Faces, modes: list[str], minutes: float, threads: int) -> list[dict]:
    """Peak RSS of a whole ``parley animate`` child per CLI mode on a ``minutes`` long speech file."""
    from bench_long import build_long_wav

    cli_modes = [m for m in modes if m != "rms"]
    out = []
    env = dict(os.environ)
    env.update({v: str(threads) for v in THREAD_VARS})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="parley-neural-") as tmp:
        wav = Path(tmp) / "long.wav"
        dur, text = build_long_wav(wav, minutes=minutes, sr=16000)
        if dur <= 0:
            print(f"\n--long-minutes {minutes:g} is shorter than the first source clip: no memory test")
            return out
        (Path(tmp) / "t.txt").write_text(text + "\n", encoding="utf-8")
        print(f"\n### Peak memory of a whole `parley animate` (body on) on {dur / 60:.1f} minutes of speech "
              "(one child process each)\n")
        print("| mode | peak RSS MB | wall s | CPU s | x real time (CPU) |")
        print("|---|---|---|---|---|")
        for mode in cli_modes:
            why = faces.unavailable(mode)
            if why:
                print(f"| {TITLES[mode]} | {_na(why)} | | | |")
                out.append({"mode": mode, "available": False, "why": why})
                continue
            cmd = [sys.executable, "-m", "engine", "animate", str(wav), "-o", str(Path(tmp) / f"{mode}.npz"),
                   "--mode", faces.registry_name(mode)]
            if mode == "phonetic-transcript":
                cmd += ["--transcript-file", str(Path(tmp) / "t.txt")]
            if mode == "neural" and faces.neural_model:
                cmd += ["--model", faces.neural_model]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, ru = os.wait4(proc.pid, 0)     # this child's own rusage
            wall = time.perf_counter() - t0
            err = proc.stderr.read().decode("utf-8", "replace")
            proc.stderr.close()
            if os.waitstatus_to_exitcode(status) != 0:
                print(f"| {TITLES[mode]} | failed: {err.strip().splitlines()[-1][:120] if err.strip() else status} "
                      "| | | |")
                out.append({"mode": mode, "available": True, "failed": err[-2000:]})
                continue
            cpu = ru.ru_utime + ru.ru_stime
            rss_mb = ru.ru_maxrss / 1024.0                     # KiB on Linux
            print(f"| {TITLES[mode]} | {rss_mb:.0f} | {wall:.1f} | {cpu:.1f} | {dur / max(cpu, 1e-9):.1f} |")
            out.append({"mode": mode, "available": True, "audio_s": dur, "peak_rss_mb": rss_mb, "wall_s": wall,
                        "cpu_s": cpu})
    return out


def machine() -> dict:
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu or platform.processor(), "cores": os.cpu_count(),
            "python": platform.python_version(), "loadavg": os.getloadavg()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated subset of {', '.join(GROUPS)}")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    ap.add_argument("--split", choices=("all", DEV, HELD_OUT), default=HELD_OUT,
                    help="real-speech utterances and FACEGOOD clips to run (default held-out)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many real-speech utterances (0: all)")
    ap.add_argument("--neural", default="neural", metavar="NAME[:MODEL]",
                    help="the registered animator (and model) of the neural row (default 'neural')")
    ap.add_argument("--long-minutes", type=float, default=10.0, help="length of the memory test file (default 10)")
    ap.add_argument("--seeds", type=int, default=1, help="takes per FACEGOOD clip for seed diversity (default 1)")
    ap.add_argument("--threads", type=int, default=2, help="math-library threads, here and in children (default 2)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    only, modes = set(args.only.split(",")), [m for m in MODES if m in set(args.modes.split(","))]
    if not only <= set(GROUPS) or not modes or not set(args.modes.split(",")) <= set(MODES):
        ap.error(f"--only takes {', '.join(GROUPS)}; --modes takes {', '.join(MODES)}")
    name, _, model = args.neural.partition(":")
    faces = Faces(args.fps, neural=name, neural_model=model or None)
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(), "split": args.split,
                    "threads": args.threads, "neural": args.neural}
    if "corpus" in only:
        rows = run_corpus(faces, modes, args.split, args.limit)
        report["corpus"] = print_corpus(rows, faces, modes, args.split)
    if "facegood" in only:
        report["facegood"] = run_facegood(faces, modes, args.split, args.seeds)
    if "speed" in only:
        report["speed"] = print_speed(faces, modes, args.threads)
    if "memory" in only and args.long_minutes > 0:
        report["memory"] = peak_memory(faces, modes, args.long_minutes, args.threads)
    report["loadavg_end"] = os.getloadavg()
    print(f"\n{report['date']}; {report['machine']['cpu']} ({report['machine']['cores']} cores); load average "
          f"{report['machine']['loadavg'][0]:.2f} at the start, {report['loadavg_end'][0]:.2f} at the end")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
