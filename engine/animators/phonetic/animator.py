"""The phonetic animator: audio -> prosody + timed phones -> face -> (shared body, lips, compose) -> Clip.

No training. Its analysis adds timed phones (:func:`engine.phonetics.phone_timing`: forced alignment with the
transcript, else recognition) to the shared one, and its face stage is
:func:`engine.animators.phonetic.face.animate_face`; body, lips and meta are the shared stages of
:class:`engine.animators.compose.ComposedAnimator`.

Speed: the voice-activity mask the face, accents and body see is taken from the phones (non-SIL phones widened
by ``speech_hangover_s``), which already separate speech from pauses, so Silero VAD is not run unless
``PhoneticConfig.features.use_silero`` is set (then its mask is kept). The energy detector only gates
whether phone timing runs at all (a silent recording gets an idle clip).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from engine.animators.base import AnimateRequest, Analysis, FaceTrack, Progress
from engine.animators.compose import STAGE_START, ComposeConfig, ComposedAnimator
from engine.animators.phonetic.face import FaceConfig, animate_face
from engine.audio.accents import detect_accents
from engine.phonetics import PhoneticsConfig, phone_timing
from rigs.core.errors import ConfigError
from rigs.core.phones import SIL, Phone

PHONES_START = 0.1   # progress fraction where phone timing starts (it runs until the face stage)


@dataclass(frozen=True)
class PhoneticConfig(ComposeConfig):
    """The whole phonetic animator: the shared stages plus phone timing and the face rules."""

    face: FaceConfig = field(default_factory=FaceConfig)
    phonetics: PhoneticsConfig = field(default_factory=PhoneticsConfig)
    speech_from_phones: bool = True     # ignored when features.use_silero is set
    speech_hangover_s: float = 0.10     # phone-derived speech regions are widened by this much each side


PHONE_TIMING_MODELS = ("neural", "sphinx", "words")    # --model of mode phonetic (see PhoneticAnimator.create)


class PhoneticAnimator(ComposedAnimator):
    """Rule-based animator (registry name ``phonetic``); see the module docstring."""

    name = "phonetic"
    model_id = "phonetic-v1"

    def __init__(self, config: PhoneticConfig = PhoneticConfig()):
        super().__init__(config)
        self.config: PhoneticConfig = config

    @classmethod
    def create(cls, *, model: str | None = None, checkpoint: str | None = None, device: str = "cpu"):
        """The registry's factory. ``model``: the phone timing, "neural" (Parley's phone model), "sphinx"
        (PocketSphinx) or "words" (the default without the bilabials the phone model adds to PocketSphinx's words:
        fewer false lip closures, more missed ones); default: the phone model when its weights are present.
        ``checkpoint``: another phone model weights file (``parley train phones`` exports one)."""
        if model is not None and model not in PHONE_TIMING_MODELS:
            raise ConfigError(f"mode 'phonetic' has the models {', '.join(map(repr, PHONE_TIMING_MODELS))} (phone "
                              f"timing), not {model!r}")
        if checkpoint is not None and model == "sphinx":
            raise ConfigError("--checkpoint is a phone model's weights; it does not apply to --model sphinx")
        if checkpoint is not None:
            from engine.phonetics.neural import load_net
            load_net(checkpoint)                 # a missing or broken file is refused now, not mid-run
        if model == "words":
            phonetics = PhoneticsConfig(phone_model_path=checkpoint, neural_bilabial_boost=None)
        else:
            acoustic = model or ("neural" if checkpoint is not None else "auto")
            phonetics = PhoneticsConfig(acoustic=acoustic, phone_model_path=checkpoint)
        return cls(PhoneticConfig(phonetics=phonetics))

    def checkpoint(self) -> dict | None:
        """The phone model the phones came from (None with PocketSphinx)."""
        from engine.phonetics.timing import uses_phone_model

        if not uses_phone_model(self.config.phonetics):
            return None
        from engine.phonetics.neural import load_net

        net = load_net(self.config.phonetics.phone_model_path)
        return {"id": net.info.get("id"), "sha256": net.info.get("sha256"), "path": net.info.get("file"),
                "step": net.info.get("step")}

    def phones(self, audio, request: AnimateRequest, *, progress=None) -> list:
        """Timed phones; ``progress(fraction)`` as a long recording advances."""
        return list(phone_timing(audio, transcript=request.transcript, config=self.config.phonetics,
                                 progress=progress))

    def analyze(self, audio, request: AnimateRequest, *, progress: Progress) -> Analysis:
        base = super().analyze(audio, request, progress=progress)
        fps, T, prosody = float(request.fps), base.n_frames, base.prosody
        start, end = PHONES_START, STAGE_START["face"]
        progress("phones", start)
        phones = self.phones(audio, request, progress=lambda f: progress("phones", start + (end - start) * f)) \
            if base.speech_found else []
        found = base.speech_found and any(str(p.label).upper() != SIL for p in phones)
        if not found:
            phones = [Phone(0.0, float(audio.duration_s), SIL)]
        if self.config.speech_from_phones and not self.config.features.use_silero:
            prosody = replace(prosody, speech=speech_mask(phones, fps=fps, n_frames=T,
                                                          hangover_s=self.config.speech_hangover_s),
                              vad_method="phones")
        accents = detect_accents(prosody, fps=fps, n_frames=T, config=self.config.accents)
        timed = tuple(Phone(float(p.start_s), float(p.end_s), str(p.label).upper()) for p in phones)
        return Analysis(prosody=prosody, accents=accents, n_frames=T, phones=timed, speech_found=found)

    def face(self, audio, analysis: Analysis, request: AnimateRequest) -> FaceTrack:
        return animate_face(analysis.phones, analysis.prosody, fps=float(request.fps), n_frames=analysis.n_frames,
                            emotion=request.emotion_dict(), seed=request.seed, config=self.config.face,
                            accents=analysis.accents)


def speech_mask(phones, *, fps: float, n_frames: int, hangover_s: float = 0.1) -> np.ndarray:
    """(n_frames,) bool: frame i (at i / fps s) lies within ``hangover_s`` of a non-SIL phone."""
    t = np.arange(n_frames) / float(fps)
    ivs = [(float(p.start_s) - hangover_s, float(p.end_s) + hangover_s) for p in phones
           if str(p.label).upper() != SIL]
    if not ivs:
        return np.zeros(n_frames, bool)
    starts, ends = np.array(ivs).T
    # frames covered by some interval: #starts <= t minus #ends <= t (intervals [s, e))
    n_in = np.searchsorted(np.sort(starts), t, side="right") - np.searchsorted(np.sort(ends), t, side="right")
    return n_in > 0
