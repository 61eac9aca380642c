"""Calibrate the phonetic face's articulation on the FACEGOOD capture's fit clips (01-03), never the held-out ones.

Amplitudes are matched to the capture's statistics, not fitted to its frames: minimising the lip vertex error
itself drives every lip shape toward zero (a damped, mumbling mouth is "closer" on average to any capture when
the phones are uncertain; tried: lip scales went to their lower bound), which is not how people speak.

- Lip axis: each lip channel's scale (``funnel_scale`` ... ``smile_scale``) makes the face's 95th percentile
  of that channel over the fit clips equal the capture's (its mean where the capture's 95th percentile is 0:
  channels the captured speaker hardly uses), within [``MIN_SCALE``, ``MAX_SCALE``] so no viseme loses its
  identity.
- Jaw axis: vowel and consonant jaw scales and the loudness floor of vowel opening are fitted (Nelder-Mead)
  so the face's ``jawOpen`` quantiles (``JAW_QUANTILES``) and mean match the capture's.

The two are alternated twice. Phones and prosody are computed once per clip with the shipped no-transcript
pipeline (the speech is Mandarin), so only the face is refitted. Per-channel statistics of the capture and of
the face before and after are printed, with LVE on the fit clips and, once at the end, on the held-out
clips: that figure is the one to believe.

The fitted values are copied by hand into ``CoarticulationConfig``'s defaults (with this script's name in the
comment); running the script changes nothing in the engine.

Run: ``.venv/bin/python bench/fit_articulation.py``.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from references import DEV, HELD_OUT, facegood_captures  # noqa: E402
from scoring import capture_scores, pooled_capture_scores  # noqa: E402

JAW_FITTED = ("jaw_scale", "consonant_jaw_scale", "jaw_loudness_floor")
JAW_BOUNDS = {"jaw_scale": (0.3, 2.5), "consonant_jaw_scale": (0.25, 2.0), "jaw_loudness_floor": (0.2, 1.0)}
JAW_QUANTILES = (50.0, 75.0, 90.0, 95.0, 99.0)
LIP_SCALES = {"funnel_scale": "mouthFunnel", "pucker_scale": "mouthPucker", "lower_down_scale": "mouthLowerDownLeft",
              "upper_up_scale": "mouthUpperUpLeft", "stretch_scale": "mouthStretchLeft", "smile_scale": "mouthSmileLeft"}
MIN_SCALE, MAX_SCALE = 0.25, 3.0
ROUNDS = 2
REPORTED = ("jawOpen", "mouthClose", "mouthLowerDownLeft", "mouthUpperUpLeft", "mouthFunnel", "mouthPucker",
            "mouthSmileLeft", "mouthStretchLeft", "mouthPressLeft", "mouthRollLower")


class Clips:
    """The analysed clips of one split (phones, prosody, accents) and their captures."""

    def __init__(self, split: str):
        from engine.animators.base import AnimateRequest
        from engine.animators.lips import load_lip_model
        from engine.animators.phonetic.animator import PhoneticAnimator
        from engine.audio.load import load_audio
        from rigs.core.files import data_root

        self.lm = load_lip_model()
        self.req = AnimateRequest(fps=30.0, seed=0, body=False)
        an = PhoneticAnimator()
        self.items = []
        for cap in facegood_captures(data_root()):
            if cap.split != split:
                continue
            audio = load_audio(cap.wav)
            analysis = an.analyze(audio, self.req, progress=lambda stage, frac: None)
            ref_v = self.lm.positions_m(cap.expression)
            self.items.append((cap, analysis, ref_v, self.lm.inner_lip_gap_m(ref_v)))

    def expressions(self, face_config):
        from engine.animators.phonetic.face import animate_face

        for _cap, an, _, _ in self.items:
            yield animate_face(an.phones, an.prosody, fps=self.req.fps, n_frames=an.n_frames, seed=0,
                               config=face_config, accents=an.accents).expression.astype(np.float64)

    def scores(self, face_config):
        from rigs.core.arkit import ARKIT_INDEX

        j = ARKIT_INDEX["jawOpen"]
        parts = []
        for (cap, _, ref_v, ref_gap), x in zip(self.items, self.expressions(face_config)):
            v = self.lm.positions_m(x)
            parts.append(capture_scores(v, ref_v, self.lm.inner_lip_gap_m(v), ref_gap, x[:, j], cap.expression[:, j]))
        return pooled_capture_scores(parts)

    def channel(self, name: str, face_config=None) -> np.ndarray:
        """One channel over all fit frames, of the capture (``face_config`` None) or of the face."""
        from rigs.core.arkit import ARKIT_INDEX

        xs = [c.expression for c, _, _, _ in self.items] if face_config is None else list(self.expressions(face_config))
        return np.concatenate(xs)[:, ARKIT_INDEX[name]]

    def channel_stats(self, face_config=None) -> dict[str, tuple[float, float]]:
        """{channel: (mean, p95)} over all frames, of the capture (None) or of the face."""
        from rigs.core.arkit import ARKIT_INDEX

        xs = [c.expression for c, _, _, _ in self.items] if face_config is None else list(self.expressions(face_config))
        x = np.concatenate(xs)
        return {n: (float(x[:, ARKIT_INDEX[n]].mean()), float(np.percentile(x[:, ARKIT_INDEX[n]], 95)))
                for n in REPORTED}


def face_config(values: dict[str, float]):
    from engine.animators.phonetic.face import FaceConfig

    base = FaceConfig()
    return dataclasses.replace(base, coarticulation=dataclasses.replace(base.coarticulation, **values))


def match_lip_scales(fit: Clips, values: dict[str, float]) -> dict[str, float]:
    """Lip-channel scales matching the capture's 95th percentile (mean where that is 0); see the docstring."""
    out = dict(values)
    for key, name in LIP_SCALES.items():
        ours, cap = fit.channel(name, face_config(out)), fit.channel(name)
        q_ours, q_cap = float(np.percentile(ours, 95)), float(np.percentile(cap, 95))
        if q_cap <= 0.0:
            q_ours, q_cap = float(ours.mean()), float(cap.mean())
        if q_ours > 1e-6:
            out[key] = float(np.clip(out[key] * q_cap / q_ours, MIN_SCALE, MAX_SCALE))
    return out


def match_jaw(fit: Clips, values: dict[str, float]) -> dict[str, float]:
    """Jaw scales and loudness floor whose ``jawOpen`` quantiles and mean match the capture's."""
    from scipy.optimize import minimize

    cap = fit.channel("jawOpen")
    target = np.append(np.percentile(cap, JAW_QUANTILES), cap.mean())

    def unpack(z):
        return {**values, **{k: float(np.clip(v, *JAW_BOUNDS[k])) for k, v in zip(JAW_FITTED, z)}}

    def loss(z):
        jaw = fit.channel("jawOpen", face_config(unpack(z)))
        return float(np.sum((np.append(np.percentile(jaw, JAW_QUANTILES), jaw.mean()) - target) ** 2))

    res = minimize(loss, np.array([values[k] for k in JAW_FITTED]), method="Nelder-Mead",
                   options={"maxiter": 60, "xatol": 0.01, "fatol": 1e-5})
    return unpack(res.x)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args()
    from engine.animators.phonetic.mouth import CoarticulationConfig

    t0 = time.process_time()
    fit = Clips(DEV)
    print(f"analysed {len(fit.items)} fit clips in {time.process_time() - t0:.0f} CPU s")
    start = {k: getattr(CoarticulationConfig(), k) for k in (*JAW_FITTED, *LIP_SCALES)}
    best = dict(start)
    for _ in range(ROUNDS):
        best = match_lip_scales(fit, match_jaw(fit, best))
    before, after = fit.scores(face_config(start)), fit.scores(face_config(best))
    print("fitted:", ", ".join(f"{k}={v:.3f}" for k, v in best.items()))
    print(f"fit clips LVE {before.lve_mm:.3f} -> {after.lve_mm:.3f} mm; jawOpen corr {before.jaw_corr:.3f} -> "
          f"{after.jaw_corr:.3f}")
    cap, b, a = fit.channel_stats(), fit.channel_stats(face_config(start)), fit.channel_stats(face_config(best))
    print(f"{'channel':20s} {'capture mean/p95':>18s} {'before':>16s} {'after':>16s}")
    for n in REPORTED:
        print(f"{n:20s} {cap[n][0]:8.3f} {cap[n][1]:8.3f}  {b[n][0]:7.3f} {b[n][1]:7.3f}  {a[n][0]:7.3f} {a[n][1]:7.3f}")
    held = Clips(HELD_OUT)
    hb, ha = held.scores(face_config(start)), held.scores(face_config(best))
    print(f"held-out clips LVE {hb.lve_mm:.3f} -> {ha.lve_mm:.3f} mm; jawOpen corr {hb.jaw_corr:.3f} -> {ha.jaw_corr:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
