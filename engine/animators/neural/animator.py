"""The neural animator: audio -> learned mouth (fast path) + sampled upper face, head and eyes -> Clip.

No transcript and no phone recogniser: the log-mel of the recording (:func:`engine.audio.spectral.log_mel`
at the checkpoint's feature rate) goes through the lip regressor and face diffusion of
:mod:`engine.learned` (torch stays there). The mouth channels, the lip-region vertices (template neutral +
predicted offsets) and the lips-closed probability come from the deterministic fast path; lip contact is
enforced where that probability fires (:mod:`.contact`); the upper face, head and eyes are sampled with the
request's seed. Emotion enters both models as a vector in :data:`rigs.core.emotions.EMOTIONS` order. The body
stays the shared procedural one. On a recording where the energy detector finds no speech the mouth is left
at rest.

Weights: ``AnimateRequest.checkpoint``, else ``$PARLEY_NEURAL_CHECKPOINT``, else the shipped default
(:data:`engine.learned.paths.DEFAULT_CHECKPOINT`); they load once per instance. The clip's meta records the
checkpoint id and sha256.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field

import numpy as np

from engine.animators.base import AnimateRequest, Analysis, FaceTrack
from engine.animators.body import BodyConfig
from engine.animators.compose import ComposeConfig, ComposedAnimator
from engine.animators.neural.contact import ContactConfig, enforce_contact
from engine.audio.spectral import chunked_log_mel
from engine.learned.layout import MOUTH_INDEX, UPPER_INDEX, emotion_vector
from engine.learned.paths import CHECKPOINT_ENV, DEFAULT_CHECKPOINT
from rigs.core.arkit import NUM_CHANNELS
from rigs.core.errors import ConfigError

log = logging.getLogger(__name__)

LIPS_BLOCK_FRAMES = 1024   # frames of lip vertices the shared lips stage forms at once (float64 inside)


@dataclass(frozen=True)
class NeuralConfig(ComposeConfig):
    """The neural animator: the shared stages, contact enforcement and diffusion sampling settings."""

    contact: ContactConfig = field(default_factory=ContactConfig)
    sampling_steps: int | None = None     # DDIM steps (None: the checkpoint's)
    head_gain: float = 1.0                # scales the sampled head rotation handed to the body
    # the sampled head was trained on the teacher's neck + head total, the procedural body's own neck and head
    # motion (posture, nods, sway) included: the body must not add those again
    body: BodyConfig = field(default_factory=lambda: BodyConfig(head_is_total=True))


def checkpoint_path(checkpoint: str | None) -> str:
    return str(checkpoint or os.environ.get(CHECKPOINT_ENV) or DEFAULT_CHECKPOINT)


class NeuralAnimator(ComposedAnimator):
    """Learned face (registry name ``neural``); see the module docstring."""

    name = "neural"
    model_id = "neural-face-v1"

    def __init__(self, config: NeuralConfig = NeuralConfig(), *, checkpoint: str | None = None, device: str = "cpu"):
        from engine.learned.checkpoint import load_checkpoint

        super().__init__(config)
        self.config: NeuralConfig = config
        self.loaded = load_checkpoint(checkpoint_path(checkpoint), device=device, require_face=True)
        self.net = self.loaded.model(device)
        self.closed_threshold = float(self.loaded.info.get("closed_threshold", 0.5))

    @classmethod
    def create(cls, *, model: str | None = None, checkpoint: str | None = None, device: str = "cpu"):
        if model is not None:
            raise ConfigError("mode 'neural' has no named models; use --checkpoint for other weights")
        return cls(checkpoint=checkpoint, device=device)

    def checkpoint(self) -> dict | None:
        return {"id": self.loaded.id, "sha256": self.loaded.sha256, "path": self.loaded.path.name,
                "step": self.loaded.info.get("step")}

    def style_code(self, style, source: str | None = None) -> np.ndarray | None:
        """A request's style code as face diffusion takes it: None (the zero code) for none, or for weights
        without style codes (with a warning); ConfigError for a code of another size than the weights'. A code
        taken from other weights (``source``, their id) is used with a warning: its manner is those weights'."""
        if style is None:
            return None
        if source and source != self.loaded.id:
            log.warning("the style code comes from %s; these weights are %s, where it may mean another manner",
                        source, self.loaded.id)
        dims = self.net.face.style_dims
        if not dims:
            log.warning("the style code is ignored: the neural-face weights %s have no style codes", self.loaded.id)
            return None
        if len(style) != dims:
            raise ConfigError(f"the style code has {len(style)} numbers; the neural-face weights {self.loaded.id} "
                              f"take {dims} (`parley emotions styles` lists theirs)")
        return np.asarray(style, np.float32)

    # -- the face ---------------------------------------------------------------------------------------
    def predict(self, audio, analysis: Analysis, request: AnimateRequest) -> dict:
        """The networks' raw outputs at the clip's frames (see :meth:`engine.learned.face.NeuralFace.run`)."""
        mc = self.net.mel_config
        if int(audio.sr) != mc.sample_rate:
            raise ConfigError(f"the neural face needs {mc.sample_rate} Hz audio, got {audio.sr} Hz")
        T = analysis.n_frames
        fps = float(request.fps)
        # the models run at their own frame rate; other clip rates are resampled from it
        T_model = max(1, int(round(audio.duration_s * mc.fps)))
        mel = chunked_log_mel(audio.samples, sr=mc.sample_rate, fps=mc.feature_fps, n_mels=mc.n_mels,
                              n_fft=mc.n_fft, n_frames=T_model * mc.feature_ratio,
                              chunk_frames=int(round(self.net.chunks.lips_chunk_s * mc.feature_fps)))
        out = self.net.run(mel, emotion_vector(request.emotion_dict()), seed=request.seed,
                           sampling_steps=self.config.sampling_steps,
                           style=self.style_code(request.style, request.style_weights))
        if T_model != T or fps != mc.fps:
            src = np.arange(T_model) / mc.fps
            dst = np.arange(T) / fps
            out = {k: _resample(v, src, dst) for k, v in out.items()}
        return out

    def face(self, audio, analysis: Analysis, request: AnimateRequest) -> FaceTrack:
        """Mouth and lip vertices from the lip regressor (with the lips-closed contact enforced), upper face,
        head and eyes from the diffusion sample; the lips travel in the track (``lip_offsets_mm``)."""
        T = analysis.n_frames
        out = self.predict(audio, analysis, request)
        lm = self.lips.model()
        x = np.zeros((T, NUM_CHANNELS), np.float32)
        x[:, MOUTH_INDEX] = out["expression"][:, MOUTH_INDEX]
        x[:, UPPER_INDEX] = out["upper"]
        offsets, p_closed = out["lip_offsets_mm"], out["p_closed"]
        if not analysis.speech_found:          # no speech: the mouth rests
            x[:, MOUTH_INDEX] = 0.0
            offsets, p_closed = np.zeros_like(offsets), np.zeros_like(p_closed)
        thr = self.config.contact.threshold if self.config.contact.threshold is not None else self.closed_threshold
        x, offsets = enforce_contact(x, offsets, p_closed, threshold=thr, config=self.config.contact,
                                     lip_model=lm if lm is not None and lm.num_vertices == offsets.shape[1] else None,
                                     copy=False)                 # the offsets are this call's own
        return FaceTrack(expression=np.clip(x, 0, 1).astype(np.float32),
                         head_angles_rad=(self.config.head_gain * out["head_sampled_rad"]).astype(np.float32),
                         eye_angles_rad=out["eyes_rad"].astype(np.float32),
                         lip_offsets_mm=offsets.astype(np.float32, copy=False), lips_model_id=f"{self.model_id}-lips",
                         meta={"closed_frames": int(np.sum(p_closed >= thr))})


    def face_lips(self, face: FaceTrack, *, own: FaceTrack) -> tuple[np.ndarray, np.ndarray, str | None]:
        """The shared lips stage (:func:`engine.animators.compose.face_lips`), :data:`LIPS_BLOCK_FRAMES` frames at
        a time: the same positions (each frame's are its own), with the stage's float64 temporaries of one block
        instead of the whole recording's."""
        T = len(face.expression)
        lm = self.lips.model()
        if (face.lip_offsets_mm is None or lm is None or lm.num_vertices != face.lip_offsets_mm.shape[1]
                or T <= LIPS_BLOCK_FRAMES):
            return super().face_lips(face, own=own)
        same = face.expression is own.expression
        positions, ids, model_id = None, None, None
        for a in range(0, T, LIPS_BLOCK_FRAMES):
            rows = slice(a, a + LIPS_BLOCK_FRAMES)
            part = dataclasses.replace(face, expression=face.expression[rows], lip_offsets_mm=face.lip_offsets_mm[rows])
            part_own = part if same else dataclasses.replace(own, expression=own.expression[rows])
            pos, ids, model_id = super().face_lips(part, own=part_own)
            if positions is None:
                positions = np.empty((T,) + pos.shape[1:], np.float32)
            positions[rows] = pos
        return positions, ids, model_id


def _resample(v: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Linear resampling along axis 0 of any (T, ...) array, float32 out (one column at a time)."""
    flat = v.reshape(len(v), -1)
    out = np.empty((len(dst), flat.shape[1]), np.float32)
    for j in range(flat.shape[1]):
        out[:, j] = np.interp(dst, src, flat[:, j])
    return out.reshape((len(dst),) + v.shape[1:])
