"""The neural face's fast causal path as the streaming animator's per-frame model (``parley stream --model neural``).

:class:`NeuralFrameModel` fills the :class:`~engine.streaming.model.FrameModel` seam with the lip regressor of a
neural-face checkpoint (:mod:`engine.learned.lipsync`; no face diffusion: the upper face, head and eyes come
from the streaming animator's causal procedural stages, as for the stand-in):

- rows are normalised causally as they arrive (``normalize_rows``: :func:`engine.learned.features.normalize_mel`
  with its running mean carried between calls), and rows outside the stream are 0 (``pad_value``), which is how
  the offline encoder pads normalised features;
- ``stream()`` runs the encoder frame by frame with cached causal-convolution inputs
  (:class:`engine.learned.streaming.LipStepper`): the same outputs as the offline forward pass over the whole
  clip, at about 0.5 ms per frame on one thread;
- each frame keeps the regressor's mouth channels (:data:`engine.learned.layout.MOUTH_INDEX`; the upper-face
  channels and the head are left at 0 for the procedural stages), and lip contact is enforced where the
  lips-closed probability fires (:func:`engine.animators.neural.contact.enforce_contact`, a per-frame operation,
  so per-frame and whole-clip application agree); the frame also carries the lip-region offsets (mm from the ICT
  template's neutral, after contact) and the probability (:class:`NeuralFrameOutput`).

Look-ahead: the encoder's 10 feature rows (83.3 ms) + half the log-mel window (16.0 ms) = 99.3 ms; the frame
prosody's 27.8 ms lies inside it, so the streaming animator adds nothing.

:func:`offline_fast_path` is the reference a stream is judged against: the same checkpoint's regressor run
offline over the whole clip (one forward pass, as :class:`engine.animators.neural.NeuralAnimator` does), with the
same contact step. :func:`neural_model_or_none` builds the model when the weights exist (``parley stream``
falls back to the stand-in otherwise).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.animators.neural.contact import ContactConfig, enforce_contact
from engine.learned.layout import MOUTH_INDEX, emotion_vector
from engine.streaming.features import MODEL_SR
from engine.streaming.model import FrameOutput
from rigs.core.arkit import NUM_CHANNELS
from rigs.core.errors import ConfigError, DataMissingError

log = logging.getLogger(__name__)

MODEL_ID = "neural-lips-v1"


@dataclass(frozen=True)
class NeuralFrameOutput(FrameOutput):
    """A :class:`FrameOutput` plus the fast path's lips: ``lip_offsets_mm`` (L, 3) from the ICT template's
    neutral (after contact) and ``p_closed`` (the lips-closed probability)."""

    lip_offsets_mm: np.ndarray | None = None
    p_closed: float = 0.0


@dataclass(frozen=True)
class NeuralStreamConfig:
    """Settings of :class:`NeuralFrameModel`: the contact step, and whether the regressor's own head estimate is
    added under the procedural head (off: the head is the procedural one alone, as for the stand-in)."""

    contact: ContactConfig = field(default_factory=ContactConfig)
    learned_head: bool = False


class NeuralFrameModel:
    """The lip regressor of a neural-face checkpoint as a stateful :class:`FrameModel` (module docstring).

    ``checkpoint``: a path (None: ``$PARLEY_NEURAL_CHECKPOINT`` or the shipped weights) or an already loaded
    :class:`engine.learned.checkpoint.Loaded`; ``emotion``: intensities by name (the regressor's emotion input);
    ``lip_model``: the ICT lip model for exact contact ("auto": load it, None when its data is missing)."""

    fps = 30.0
    feature_fps = 120.0
    n_mels = 80
    pad_value = 0.0
    model_id = MODEL_ID

    def __init__(self, checkpoint=None, *, emotion: dict[str, float] | None = None,
                 config: NeuralStreamConfig = NeuralStreamConfig(), lip_model="auto"):
        from engine.animators.neural.animator import checkpoint_path
        from engine.learned.checkpoint import Loaded, load_checkpoint
        from engine.learned.streaming import receptive_rows

        self.loaded = checkpoint if isinstance(checkpoint, Loaded) else load_checkpoint(checkpoint_path(checkpoint))
        self.lips = self.loaded.lips.eval()
        self.config = config
        mc = self.lips.config.encoder.mel
        if mc.sample_rate != MODEL_SR:
            raise ConfigError(f"the streaming neural face needs a {MODEL_SR} Hz model, this one is {mc.sample_rate} Hz")
        self.mel_config = mc
        self.fps = float(mc.fps)
        self.feature_fps = float(mc.feature_fps)
        self.n_mels = int(mc.n_mels)
        self.log_mel_kwargs = {"n_fft": int(mc.n_fft)}
        self.lookahead_frames = int(self.lips.config.encoder.lookahead_feature_frames)
        r = mc.feature_ratio
        self.context_frames = -(-receptive_rows(self.lips) // r) * r     # whole frames of past (predict windows)
        self.emotion = emotion_vector(emotion)
        self.mean = self.lips.mel_mean.float().numpy().astype(np.float64)
        self.std = self.lips.mel_std.float().numpy().astype(np.float64)
        self.threshold = float(self.loaded.info.get("closed_threshold", 0.5)) if config.contact.threshold is None \
            else float(config.contact.threshold)
        n_lips = self.lips.config.num_lip_vertices
        if lip_model == "auto":
            lip_model = _load_lip_model()
        self.lip_model = lip_model if lip_model is not None and lip_model.num_vertices == n_lips else None
        self.checkpoint_id = self.loaded.id

    # -- the FrameModel seam --------------------------------------------------------------------------------
    @property
    def lookahead_s(self) -> float:
        """The model's look-ahead: its right context plus half the log-mel window (99.3 ms for the defaults)."""
        return self.lookahead_frames / self.feature_fps + 0.5 * self.mel_config.n_fft / self.mel_config.sample_rate

    def normalize_rows(self, rows: np.ndarray, state):
        from engine.learned.features import normalize_mel

        mc = self.mel_config
        return normalize_mel(rows, mean=self.mean, std=self.std, feature_fps=mc.feature_fps, tau_s=mc.tau_s,
                             state=state)

    def stream(self) -> _NeuralStepper:
        from engine.learned.streaming import LipStepper

        return _NeuralStepper(self, LipStepper(self.lips, self.emotion))

    def predict(self, window: np.ndarray, *, level_db: float | None) -> FrameOutput:
        """One frame from a window of its full receptive field (slow, ~10 ms: the streaming animator uses
        :meth:`stream`); near a stream's start it differs from the stepper, whose convolutions zero-pad."""
        return self.predict_many(np.asarray(window)[None], level_db=[level_db])[0]

    def predict_many(self, windows: np.ndarray, *, level_db) -> list[FrameOutput]:
        from engine.learned.streaming import lips_forward

        k = self.context_frames // self.mel_config.feature_ratio              # the frame's index in a window
        out = lips_forward(self.lips, np.asarray(windows, np.float32), self.emotion)   # (n, T, ...) each
        return self.frames({name: v[:, k] for name, v in out.items()})

    # -- regressor outputs -> frames ----------------------------------------------------------------------
    def finish(self, raw: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Regressor outputs of T frames -> (T, 52) mouth-only expression with contact, (T, L, 3) lip offsets mm
        after contact, (T, 3) head (zeros unless ``learned_head``)."""
        T = len(raw["expression"])
        x = np.zeros((T, NUM_CHANNELS), np.float32)
        x[:, MOUTH_INDEX] = raw["expression"][:, MOUTH_INDEX]
        x, off = enforce_contact(x, raw["lip_offsets_mm"], raw["p_closed"], threshold=self.threshold,
                                 config=self.config.contact, lip_model=self.lip_model)
        head = raw["head_rad"] if self.config.learned_head else np.zeros((T, 3), np.float32)
        return np.clip(x, 0.0, 1.0).astype(np.float32), np.asarray(off, np.float32), np.asarray(head, np.float32)

    def frames(self, raw: dict) -> list[FrameOutput]:
        x, off, head = self.finish(raw)
        return [NeuralFrameOutput(expression=x[k], head_rad=head[k], lip_offsets_mm=off[k],
                                  p_closed=float(raw["p_closed"][k])) for k in range(len(x))]


class _NeuralStepper:
    """:class:`~engine.streaming.model.FrameStepper` of :class:`NeuralFrameModel`."""

    def __init__(self, model: NeuralFrameModel, lips):
        self.model = model
        self.lips = lips

    def step(self, rows: np.ndarray, n_frames: int, *, level_db: list) -> list[FrameOutput]:
        raw = self.lips.push(rows)
        if len(raw["expression"]) != n_frames:
            raise ConfigError(f"neural stepper: the rows completed {len(raw['expression'])} frames, "
                              f"the stream expected {n_frames}")
        return self.model.frames(raw) if n_frames else []


def _load_lip_model():
    from engine.animators.lips import load_lip_model

    try:
        return load_lip_model()
    except DataMissingError as e:
        log.warning("lip contact without the ICT lip model (mouthClose = jawOpen on closures): %s", e)
        return None


def offline_fast_path(model: NeuralFrameModel, y: np.ndarray, *, sr: int = MODEL_SR) -> dict[str, np.ndarray]:
    """The reference for a stream: ``model``'s checkpoint run offline over the whole (N,) clip at 16 kHz, one
    forward pass over the whole clip's normalised log-mel (T = num_frames(N / sr, fps) frames, as
    :class:`engine.animators.neural.NeuralAnimator` computes them), then the same contact step.
    Returns float32 ``expression`` (T, 52), ``lip_offsets_mm`` (T, L, 3), ``p_closed`` (T,)."""
    from engine.audio.spectral import log_mel
    from engine.learned.streaming import lips_forward
    from rigs.core.timebase import num_frames

    if int(sr) != MODEL_SR:
        raise ConfigError(f"offline_fast_path needs {MODEL_SR} Hz audio, got {sr} Hz")
    mc = model.mel_config
    T = num_frames(len(y) / float(sr), mc.fps)
    mel = log_mel(np.asarray(y, np.float32), sr=sr, fps=mc.feature_fps, n_mels=mc.n_mels, n_fft=mc.n_fft,
                  n_frames=T * mc.feature_ratio)
    x, _ = model.normalize_rows(mel, None)
    raw = {k: v[0] for k, v in lips_forward(model.lips, x[None], model.emotion).items()}
    expr, off, _ = model.finish(raw)
    return {"expression": expr, "lip_offsets_mm": off, "p_closed": raw["p_closed"]}


def neural_weights_path(checkpoint: str | Path | None = None) -> Path:
    """The weights ``NeuralFrameModel(checkpoint)`` would load (the argument, ``$PARLEY_NEURAL_CHECKPOINT``, or
    the shipped file)."""
    from engine.animators.neural.animator import checkpoint_path

    return Path(checkpoint_path(None if checkpoint is None else str(checkpoint)))


def neural_model_or_none(checkpoint: str | Path | None = None, **kwargs) -> NeuralFrameModel | None:
    """A :class:`NeuralFrameModel` when its weights file exists, else None (with a warning naming the file)."""
    path = neural_weights_path(checkpoint)
    if not path.is_file():
        log.warning("neural-face weights not found at %s: streaming with the energy stand-in", path)
        return None
    return NeuralFrameModel(str(path), **kwargs)


# ------------------------------------------------------------------------------------------------
# the fast path behind the Animator interface (batches)

def with_emotion(model: NeuralFrameModel, emotion: dict[str, float] | None) -> NeuralFrameModel:
    """A copy of ``model`` sharing its weights with another emotion input (cheap: no reload)."""
    import copy

    m = copy.copy(model)
    m.emotion = emotion_vector(emotion)
    return m


class NeuralStreamAnimator:
    """``animate(audio, request) -> Clip`` through the streaming path with the neural fast path
    (:class:`engine.streaming.clip.StreamAnimator` around one loaded :class:`NeuralFrameModel`, the request's
    emotion given to the regressor): what ``parley stream --model neural`` would have shown, as a clip with the
    predicted lip vertices. The weights load once per instance."""

    name = "stream"

    def __init__(self, checkpoint=None):
        from engine.streaming.clip import StreamAnimator

        self.base = NeuralFrameModel(checkpoint)
        self._current = self.base
        self.inner = StreamAnimator(lambda fps: self._current)
        self.model_id = self.inner.model_id

    def animate(self, audio, request, *, progress=None):
        self._current = with_emotion(self.base, request.emotion_dict())
        return self.inner.animate(audio, request, progress=progress)


@dataclass(frozen=True)
class NeuralStreamFactory:
    """A picklable ``factory(mode, request)`` for :func:`engine.batch.job.run_batch` that builds a
    :class:`NeuralStreamAnimator` whatever the mode (the request's checkpoint, else ``checkpoint``)."""

    checkpoint: str | None = None

    def __call__(self, mode, request):
        return NeuralStreamAnimator(getattr(request, "checkpoint", None) or self.checkpoint)
