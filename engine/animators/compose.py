"""The stages every animator shares, and the one step that turns them into a clip.

:class:`ComposedAnimator` runs: analysis (prosody at the clip's frames and the shared pitch accents of
:mod:`engine.audio.accents`; an animator may add timed phones) -> ``face()`` (the only stage a face model
must write) -> the procedural body (:mod:`engine.animators.body`), driven by the accents and the face's head
and eye motion -> with a conversation partner (``AnimateRequest.partner``), the listening overlay on face and
body (:mod:`engine.animators.listening`) -> lip vertices from the expression (:mod:`engine.animators.lips`) -> :func:`compose_clip`,
which adds meta (the animator's full config, model and checkpoint ids) and validates the clip. Progress is
reported between stages through ``progress(stage, fraction)``, which may raise CancelledError.
"""
from __future__ import annotations

import dataclasses
import enum
import logging
from typing import Any

import numpy as np

from engine.animators.base import AnimateRequest, Analysis, BodyTrack, FaceTrack, Progress
from engine.animators.body import BodyConfig, animate_body
from engine.animators.listening import LISTENING_MODEL_ID, ListeningConfig, apply_listening, partner_meta, with_partner
from engine.audio.accents import AccentConfig, detect_accents
from engine.audio.prosody import FeatureConfig, analyze
from rigs.core.clip import Clip, make_meta
from rigs.core.errors import DataMissingError
from rigs.core.skeleton import canonical_skeleton
from rigs.core.timebase import num_frames

MM_TO_M = 1e-3
log = logging.getLogger(__name__)

BODY_MODEL_ID = "procedural-body-v2"   # v2: arm carriage, torso and head participation
REST_MODEL_ID = "rest"
# where each stage starts, as a fraction of one animate() call (``progress(stage, fraction)``); an animator's
# own analysis stages (the phonetic animator's "phones") report within analyze .. face
STAGE_START = {"analyze": 0.0, "face": 0.5, "body": 0.7, "lips": 0.85, "compose": 0.95, "animated": 1.0}


@dataclasses.dataclass(frozen=True)
class ComposeConfig:
    """The shared stages: prosody analysis (Silero VAD off by default), accents, body, lips."""

    features: FeatureConfig = dataclasses.field(default_factory=lambda: FeatureConfig(use_silero=False))
    accents: AccentConfig = dataclasses.field(default_factory=AccentConfig)
    body: BodyConfig = dataclasses.field(default_factory=BodyConfig)
    lips: bool = True   # compute lip vertices (needs the ICT FaceKit data)
    listening: ListeningConfig = dataclasses.field(default_factory=ListeningConfig)   # with a partner


def config_dict(config) -> dict[str, Any]:
    """A config dataclass as a JSON-ready dict (nested dataclasses, tuples as lists, enums by value)."""
    def plain(v):
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, enum.Enum):
            return v.value
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, np.generic):
            return v.item()
        return v
    return plain(config)


def rest_body(n_frames: int) -> BodyTrack:
    """The canonical skeleton at rest for ``n_frames``."""
    sk = canonical_skeleton()
    return BodyTrack(np.zeros((n_frames, sk.num_joints, 3), np.float32), np.zeros((n_frames, 3), np.float32),
                     sk.names, sk.parents)


def procedural_body(analysis: Analysis, face: FaceTrack, request: AnimateRequest, *,
                    config: BodyConfig | None = None) -> BodyTrack:
    """The procedural body on the canonical skeleton, timed by the shared accents and moved by the face's head
    and eyes."""
    sk = canonical_skeleton()
    joints, root = animate_body(fps=float(request.fps), n_frames=analysis.n_frames, prosody=analysis.prosody,
                                head_angles_rad=face.head_angles_rad, eye_angles_rad=face.eye_angles_rad,
                                accent_times_s=analysis.accents.times_s, emotion=request.emotion_dict(),
                                seed=request.seed, config=config or BodyConfig())
    return BodyTrack(np.asarray(joints, np.float32), np.asarray(root, np.float32), sk.names, sk.parents)


class LipStage:
    """The ICT linear lip model, loaded once per instance; without the ICT data, lips are left empty with a warning."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._model: Any = None

    def model(self):
        if self._model is None and self.enabled:
            from engine.animators.lips import load_lip_model

            try:
                self._model = load_lip_model()
            except DataMissingError as e:
                log.warning("lip vertices left empty: %s", e)
                self._model = False
        return self._model or None

    def __call__(self, expression: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
        """(T, L, 3) float32 positions, (L,) vertex ids and the model id (None when left empty)."""
        lm = self.model()
        if lm is None:
            return np.zeros((len(expression), 0, 3), np.float32), np.zeros(0, np.int64), None
        from engine.animators.lips import MODEL_ID

        return lm.positions_m(expression).astype(np.float32, copy=False), np.asarray(lm.vertex_ids, np.int64), MODEL_ID


def face_lips(lip_stage: LipStage, face: FaceTrack, *, own: FaceTrack) -> tuple[np.ndarray, np.ndarray, str | None]:
    """The clip's lip vertices: the lip model on ``face.expression``, or, for a face that predicts its lips
    (``face.lip_offsets_mm``), the lip model's neutral plus those offsets, plus what later shared stages
    (listening) changed in the expression since the face made ``own``."""
    if face.lip_offsets_mm is None:
        return lip_stage(face.expression)
    lm = lip_stage.model()
    if lm is None:
        return lip_stage(face.expression)
    if lm.num_vertices != face.lip_offsets_mm.shape[1]:
        log.warning("the face predicts %d lip vertices, the lip model has %d; lips from the expression",
                    face.lip_offsets_mm.shape[1], lm.num_vertices)
        return lip_stage(face.expression)
    pos = lm.neutral_m[None] + face.lip_offsets_mm * MM_TO_M
    if face.expression is not own.expression:
        pos = pos + lm.positions_m(face.expression) - lm.positions_m(own.expression)
    return pos.astype(np.float32), np.asarray(lm.vertex_ids, np.int64), face.lips_model_id


def compose_clip(audio, request: AnimateRequest, *, mode: str, analysis: Analysis, face: FaceTrack, body: BodyTrack,
                 lips: tuple[np.ndarray, np.ndarray, str | None], model_ids: dict, config=None,
                 checkpoint: dict | None = None, **meta_extra) -> Clip:
    """Face + body + lips + meta -> a validated :class:`Clip`. The meta records the animator (``mode``), the
    model ids per part, the full ``config``, the ``checkpoint`` (id and sha256) and the analysis results."""
    from engine.animators.lips import TEMPLATE_ID

    fps = float(request.fps)
    positions, ids, lip_model = lips
    meta = make_meta(
        fps=fps, duration_s=audio.duration_s, mode=mode, seed=request.seed, emotion=request.emotion_dict(),
        model_ids={**model_ids, "lips": lip_model}, source_audio=getattr(audio, "source_name", None),
        source_sha256=getattr(audio, "source_sha256", None),
        sample_rate=getattr(audio, "original_sr", getattr(audio, "sr", None)), template_id=TEMPLATE_ID,
        transcript=request.transcript, speech_found=bool(analysis.speech_found),
        accent_times_s=[round(float(t), 4) for t in analysis.accents.times_s],
        config=config_dict(config) if config is not None else None, checkpoint=checkpoint,
        **({"style": [float(v) for v in request.style], "style_weights": request.style_weights}
           if request.style is not None else {}), **meta_extra)
    clip = Clip(
        fps=fps, duration_s=float(audio.duration_s), expression=np.asarray(face.expression, np.float32),
        joint_angles=np.asarray(body.joint_angles_rad, np.float32), joint_names=tuple(body.joint_names),
        joint_parents=tuple(body.joint_parents), root_translation=np.asarray(body.root_translation_m, np.float32),
        lip_vertices=positions, lip_vertex_ids=ids,
        phonemes=None if analysis.phones is None else tuple(analysis.phones), meta=meta)
    return clip.validate()


class ComposedAnimator:
    """Base of animators built from the shared stages (module docstring): implement :meth:`face` (and set
    ``name``, ``model_id``), optionally override :meth:`analyze`; register the class by name in
    :mod:`engine.animators.registry`."""

    name = "composed"
    model_id = "composed"

    def __init__(self, config: ComposeConfig = ComposeConfig()):
        self.config = config
        self.lips = LipStage(config.lips)

    # -- stages ---------------------------------------------------------------------------------------
    def analyze(self, audio, request: AnimateRequest, *, progress: Progress) -> Analysis:
        """Prosody at the clip's frames and the shared pitch accents."""
        fps = float(request.fps)
        T = num_frames(audio.duration_s, fps)
        prosody = analyze(audio, fps=fps, config=self.config.features)
        found = not bool(getattr(prosody, "silent", False)) and bool(np.any(np.asarray(prosody.speech)))
        return Analysis(prosody=prosody, accents=detect_accents(prosody, fps=fps, n_frames=T, config=self.config.accents),
                        n_frames=T, speech_found=found)

    def face(self, audio, analysis: Analysis, request: AnimateRequest) -> FaceTrack:
        raise NotImplementedError

    def body(self, analysis: Analysis, face: FaceTrack, request: AnimateRequest) -> BodyTrack:
        if not request.body:
            return rest_body(analysis.n_frames)
        return procedural_body(analysis, face, request, config=self.config.body)

    def checkpoint(self) -> dict | None:
        """``{"id": ..., "sha256": ...}`` of the weights this animator runs, or None."""
        return None

    # -- the run ----------------------------------------------------------------------------------------
    def face_lips(self, face: FaceTrack, *, own: FaceTrack) -> tuple[np.ndarray, np.ndarray, str | None]:
        """The lips stage (see :func:`face_lips`)."""
        return face_lips(self.lips, face, own=own)

    def animate(self, audio, request: AnimateRequest, *, progress: Progress | None = None) -> Clip:
        report = progress or (lambda stage, frac: None)
        report("analyze", STAGE_START["analyze"])
        analysis = with_partner(self.analyze(audio, request, progress=report), audio, request,
                                features=self.config.features, accents=self.config.accents)
        if not analysis.speech_found:
            log.warning("%s: no speech found; animating an idle (blinking, breathing) character",
                        getattr(audio, "source_name", "audio"))
        report("face", STAGE_START["face"])
        face = self.face(audio, analysis, request)
        report("body", STAGE_START["body"])
        body = self.body(analysis, face, request)
        own = face
        face, body = apply_listening(analysis, face, body, request, config=self.config.listening,
                                     neck_share=self.config.body.neck_share, body_enabled=request.body)
        report("lips", STAGE_START["lips"])
        lips = self.face_lips(face, own=own)
        report("compose", STAGE_START["compose"])
        clip = compose_clip(audio, request, mode=self.name, analysis=analysis, face=face, body=body, lips=lips,
                            model_ids={"face": self.model_id, "body": BODY_MODEL_ID if request.body else REST_MODEL_ID,
                                       **({"listening": LISTENING_MODEL_ID} if analysis.partner is not None else {})},
                            config=self.config, checkpoint=self.checkpoint(), **partner_meta(analysis), **face.meta)
        report("animated", STAGE_START["animated"])
        return clip
