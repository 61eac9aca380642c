"""The neural face: the fast lip path plus face diffusion for the upper face, head and eyes; numpy in and out.

:class:`FaceDiffusion` is the trainable part of face diffusion (the denoiser and the normalisation of its
targets); :class:`NeuralFace` runs a loaded pair on one recording's log-mel:

1. the log-mel is normalised causally (:func:`engine.learned.features.normalize_mel`);
2. the lip regressor gives the mouth (ARKit, lip offsets, lips-closed probability) and a head estimate;
3. face diffusion samples the upper face, head and eyes (:mod:`.layout`) conditioned on the encoder's
   features, the fast path's outputs and the emotion, with the request's seed: different seeds give different
   blinks, brows and head motion while the mouth, which diffusion never touches, stays the same.

**Style codes** (Karras et al. 2017's learned emotion database, per training clip): a face diffusion made with
``FaceConfig.style_dims`` S > 0 holds a table of ``style_clips`` codes (S numbers each), one per labelled take of
its training corpus, learned with the denoiser (the names of those clips travel in the checkpoint's info,
``style_clips``). Each training window is denoised with its clip's code, and with the zero code for a share
``p_drop_style`` of them, so the zero code is the model's average manner and what a request without a style code
gets. A request may pass any code of S numbers (one of the table's, a mix or an interpolation of them, saved in
an emotion preset); the mouth never sees it.

Long recordings run chunk by chunk (:class:`ChunkConfig`), so working memory stays that of one chunk and only
the per-frame output arrays grow with the length:

- the normalisation carries its running mean from chunk to chunk (exact);
- the lip regressor runs on ``lips_chunk_s`` of frames at a time with the encoder's whole past receptive field
  (:func:`engine.learned.streaming.receptive_rows`, 247 feature rows = 62 frames with the shipped encoder)
  before the chunk and its look-ahead (R = 10 rows, 3 frames) after it. Every layer is causal or per frame, so
  the kept frames equal one pass over the whole recording up to float rounding;
- face diffusion is not causal (its receptive field grows with every DDIM step), so it samples chunks of
  ``diffusion_chunk_s`` (30 s: far above the 4 s corpus windows, cropped to 2 s, it is trained on) that overlap
  by ``overlap_s`` (2 s). In each chunk after the first, the first half of the overlap is pinned to the previous
  chunk's result: every step's clean estimate is replaced there, so the rest of the chunk is sampled around
  frames it cannot change (the replacement of diffusion inpainting; RePaint, Lugmayr et al. 2022, replaces the
  noisy sample instead). The second half is cross-faded linearly from the previous chunk's result into the new
  one, so the seam is continuous. Chunk ``k`` draws its noise from its own generator, seeded with the request's
  seed for ``k = 0`` (a clip of one chunk is sampled exactly as without chunking) and with a
  :class:`numpy.random.SeedSequence` of (seed, k) after that: the same seed gives the same face.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn

from engine.learned.denoiser import DenoiserConfig, FaceDenoiser
from engine.learned.diffusion import GaussianDiffusion
from engine.learned.features import normalize_mel
from engine.learned.layout import FACE_DIMS, HEAD_DIMS, UPPER_INDEX
from engine.learned.lipsync import LipRegressor
from engine.learned.threads import torch_threads
from engine.learned.streaming import receptive_rows
from rigs.core.arkit import NUM_CHANNELS


MAX_ANGLE_RAD = 0.6      # bound of a sampled head or eye rotation component (about 34 degrees)
MAX_SIGMAS = 8.0         # and of any normalised dimension (a blink is about 6 standard deviations)


@dataclass(frozen=True)
class ChunkConfig:
    """How :meth:`NeuralFace.run` cuts a long recording (module docstring); seconds at the model's frame rate."""

    lips_chunk_s: float = 30.0         # frames of lip output per encoder pass (plus 2 s of context)
    diffusion_chunk_s: float = 30.0    # frames sampled per diffusion chunk, the overlap included
    overlap_s: float = 2.0             # overlap of two diffusion chunks: half pinned, half cross-faded

    def frames(self, fps: float) -> tuple[int, int, int]:
        """(lips chunk, diffusion chunk, overlap) in frames at ``fps``; ValueError when they do not fit."""
        lips, diff, over = (int(round(s * fps)) for s in (self.lips_chunk_s, self.diffusion_chunk_s, self.overlap_s))
        if lips < 1 or over < 2 or diff < 2 * over:
            raise ValueError(f"chunks of {self}: need a lips chunk of at least one frame, an overlap of at least "
                             f"2 frames and a diffusion chunk of at least twice the overlap at {fps:g} fps")
        return lips, diff, over


@dataclass(frozen=True)
class FaceConfig:
    denoiser: DenoiserConfig = DenoiserConfig()
    diffusion_steps: int = 1000
    prediction: str = "x0"         # the denoiser predicts the clean sample (see engine.learned.diffusion)
    sampling_steps: int = 20
    eta: float = 1.0               # 0: deterministic DDIM; 1: fresh noise each step (varied blinks)
    s_audio: float = 1.0           # classifier-free guidance scales (1, 1: the conditional pass alone; equal:
    s_emotion: float = 1.0         # two passes per step); 1.5 suppressed blinks on jfk.flac
    p_drop_audio: float = 0.1
    p_drop_emotion: float = 0.2
    style_clips: int = 0           # codes in the style table (module docstring; 0: no style codes)
    p_drop_style: float = 0.2      # share of training windows denoised with the zero (average) code


STYLE_INIT_STD = 0.01              # the style codes start near the zero code


class FaceDiffusion(nn.Module):
    """Denoiser + the per-dimension statistics that normalise its targets (buffers, saved with the weights) +
    the style-code table when ``config.denoiser.style_dims`` > 0 (module docstring)."""

    def __init__(self, config: FaceConfig):
        super().__init__()
        if (config.denoiser.style_dims > 0) != (config.style_clips > 0):
            raise ValueError(f"style codes need both a size and a table: style_dims {config.denoiser.style_dims}, "
                             f"style_clips {config.style_clips}")
        self.config = config
        self.denoiser = FaceDenoiser(config.denoiser)
        self.register_buffer("target_mean", torch.zeros(FACE_DIMS))
        self.register_buffer("target_std", torch.ones(FACE_DIMS))
        self.style_codes = None
        if config.style_clips:
            self.style_codes = nn.Embedding(config.style_clips, config.denoiser.style_dims)
            nn.init.normal_(self.style_codes.weight, std=STYLE_INIT_STD)

    def grow_styles(self, n: int) -> None:
        """Append ``n`` fresh codes to the style table (fine-tuning on new clips); the others are kept."""
        old = self.style_codes.weight.data
        table = nn.Embedding(len(old) + n, old.shape[1]).to(old.device)
        nn.init.normal_(table.weight, std=STYLE_INIT_STD)
        table.weight.data[:len(old)] = old
        self.style_codes = table
        self.config = replace(self.config, style_clips=len(old) + n)

    @property
    def style_dims(self) -> int:
        return self.config.denoiser.style_dims

    def style_condition(self, style, batch: int, device) -> torch.Tensor | None:
        """(batch, S) the style condition for a request's code (S numbers, or None: the zero code); None for a
        model without style codes. ValueError for a code of another size."""
        if not self.style_dims:
            return None
        if style is None:
            return torch.zeros((batch, self.style_dims), device=device)
        v = torch.as_tensor(np.asarray(style, np.float32), device=device).reshape(-1)
        if v.numel() != self.style_dims:
            raise ValueError(f"a style code of {v.numel()} numbers; this face model's codes have {self.style_dims}")
        return v[None].expand(batch, -1)

    def diffusion(self) -> GaussianDiffusion:
        return GaussianDiffusion(self.denoiser, steps=self.config.diffusion_steps, prediction=self.config.prediction)

    def normalize(self, y):                                     # (B, T, D) -> (B, D, T)
        return ((y - self.target_mean) / self.target_std).transpose(1, 2)

    def denormalize(self, x):                                   # (B, D, T) -> (B, T, D)
        return x.transpose(1, 2) * self.target_std + self.target_mean

    def clip_x0(self, x):                                       # (B, D, T) normalised -> the same, in range
        y = self.denormalize(x)                                 # (B, T, D)
        n = len(UPPER_INDEX)
        y = torch.cat([y[..., :n].clamp(0.0, 1.0), y[..., n:].clamp(-MAX_ANGLE_RAD, MAX_ANGLE_RAD)], dim=-1)
        return self.normalize(y).clamp(-MAX_SIGMAS, MAX_SIGMAS)


def audio_dims(lip_config) -> int:
    """A of :func:`audio_condition` for a lip regressor's config."""
    return lip_config.encoder.channels + NUM_CHANNELS + 1


def audio_condition(lips_out: dict) -> torch.Tensor:
    """(B, A, T) what face diffusion hears: encoder features, fast-path expression, lips-closed probability."""
    p = torch.sigmoid(lips_out["closed_logit"])[..., None]                  # (B, T, 1)
    a = torch.cat([lips_out["features"], lips_out["expression"], p], dim=-1)  # (B, T, A)
    return a.transpose(1, 2).detach()


def split_face(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, FACE_DIMS) -> upper-face weights (T, 23), head (T, 3), eyes (T, 2, 3)."""
    n = len(UPPER_INDEX)
    return y[:, :n], y[:, n:n + HEAD_DIMS], y[:, n + HEAD_DIMS:].reshape(len(y), 2, 3)


def chunk_spans(n_frames: int, chunk: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) of the fewest chunks of at most ``chunk`` frames, consecutive ones sharing ``overlap`` frames,
    that cover ``n_frames``; lengths as equal as the frame grid allows (one span when it fits)."""
    if n_frames <= chunk:
        return [(0, n_frames)]
    n = math.ceil((n_frames - overlap) / (chunk - overlap))
    step = math.ceil((n_frames - overlap) / n)                  # <= chunk - overlap
    return [(k * step, min(n_frames, k * step + step + overlap)) for k in range(n)]


def chunk_generator(seed: int, k: int, device) -> torch.Generator:
    """The noise of diffusion chunk ``k``: the request's seed for the first, a SeedSequence of (seed, k) after."""
    s = int(seed) if k == 0 else int(np.random.SeedSequence([int(seed) % 2**64, k]).generate_state(1, np.uint64)[0])
    return torch.Generator(device=device).manual_seed(s)


INFERENCE_THREADS = 1   # torch threads while NeuralFace.run runs: its ops are small (one chunk of 96-128 channels),
                        # and on a busy machine a second thread spins. Measured 2026-12-01 on the 2 shared cores
                        # (load ~3.4), 120 s of speech: 0.7-0.9 s CPU on 1 thread, 17-109 s on 2 (more with chunks,
                        # which have more, smaller ops); the learned body made the same choice.


class NeuralFace:
    """A loaded lip regressor and (optionally) face diffusion, in eval mode on ``device``; ``chunks``: how long
    recordings are cut (module docstring); ``threads``: torch CPU threads while :meth:`run` runs (restored
    afterwards; None: leave torch's setting)."""

    def __init__(self, lips: LipRegressor, face: FaceDiffusion | None = None, *, device: str = "cpu",
                 chunks: ChunkConfig = ChunkConfig(), threads: int | None = INFERENCE_THREADS):
        self.lips = lips.eval().to(device)
        self.face = None if face is None else face.eval().to(device)
        self.device = device
        self.chunks = chunks
        self.threads = threads

    @property
    def mel_config(self):
        return self.lips.config.encoder.mel

    def normalize(self, mel: np.ndarray) -> np.ndarray:
        """(F, n_mels) log-mel -> the same, causally normalised, in pieces of one lips chunk (exact: the running
        mean is carried over)."""
        mc = self.mel_config
        mean, std = self.lips.mel_mean.float().cpu().numpy(), self.lips.mel_std.float().cpu().numpy()
        rows = max(1, int(round(self.chunks.lips_chunk_s * mc.feature_fps)))
        out = np.empty(mel.shape, np.float32)
        state = None
        for a in range(0, len(mel), rows):
            out[a:a + rows], state = normalize_mel(mel[a:a + rows], mean=mean, std=std, feature_fps=mc.feature_fps,
                                                   tau_s=mc.tau_s, state=state)
        return out

    def _lips(self, mel: np.ndarray, e: torch.Tensor, *, audio: bool) -> dict[str, np.ndarray]:
        """mel (4T, M) log-mel rows -> float32 numpy per-frame outputs of the lip regressor, one lips chunk at a
        time with its receptive field around it (module docstring); ``audio``: also face diffusion's
        :func:`audio_condition` (T, A). The rows are normalised as the chunks reach them (the running mean
        carried over), and only those of the current chunk and its context are kept."""
        mc = self.mel_config
        mean, std = self.lips.mel_mean.float().cpu().numpy(), self.lips.mel_std.float().cpu().numpy()
        ratio = mc.feature_ratio
        T = len(mel) // ratio
        chunk = self.chunks.frames(self.mel_config.fps)[0]
        past = math.ceil(receptive_rows(self.lips) / ratio)                 # frames of context before a chunk
        ahead = math.ceil(self.lips.config.encoder.lookahead_feature_frames / ratio)   # and after it
        L = self.lips.config.num_lip_vertices
        res = {"expression": np.empty((T, NUM_CHANNELS), np.float32), "lip_offsets_mm": np.empty((T, L, 3), np.float32),
               "p_closed": np.empty(T, np.float32), "head_rad": np.empty((T, HEAD_DIMS), np.float32)}
        if audio:
            res["audio"] = np.empty((T, audio_dims(self.lips.config)), np.float32)
        x, x_start, state = np.zeros((0, mel.shape[1]), np.float32), 0, None   # normalised rows from x_start
        for s in range(0, T, chunk):
            e_ = min(T, s + chunk)
            a, b = max(0, s - past), min(T, e_ + ahead)
            done = x_start + len(x)
            if b * ratio > done:
                new, state = normalize_mel(mel[done:b * ratio], mean=mean, std=std, feature_fps=mc.feature_fps,
                                           tau_s=mc.tau_s, state=state)
                x = np.concatenate([x[a * ratio - x_start:], new])             # rows a * ratio .. b * ratio
                x_start = a * ratio
            xc = torch.from_numpy(x[a * ratio - x_start:b * ratio - x_start])[None].to(self.device)   # (1, 4(b-a), M)
            out = self.lips(xc, e)
            keep = slice(s - a, e_ - a)
            res["expression"][s:e_] = out["expression"][0, keep].float().cpu().numpy()
            res["lip_offsets_mm"][s:e_] = out["lip_offsets_mm"][0, keep].float().cpu().numpy()
            res["p_closed"][s:e_] = torch.sigmoid(out["closed_logit"][0, keep]).float().cpu().numpy()
            res["head_rad"][s:e_] = out["head_rad"][0, keep].float().cpu().numpy()
            if audio:
                res["audio"][s:e_] = audio_condition(out)[0, :, keep].T.float().cpu().numpy()
        return res

    def _pinned(self, fixed: torch.Tensor):
        """A ``clip_x0`` that also replaces the first frames of every clean estimate by ``fixed`` (1, D, n)."""
        def clip_x0(x0):                                                        # (1, D, L) -> the same
            x0 = self.face.clip_x0(x0)
            x0[..., :fixed.shape[-1]] = fixed
            return x0
        return clip_x0

    def _sample(self, audio: np.ndarray, e: torch.Tensor, *, seed: int, sampling_steps: int | None,
                style=None) -> np.ndarray:
        """audio (T, A) :func:`audio_condition` -> (T, FACE_DIMS) denormalised face-diffusion sample, chunk by
        chunk (module docstring); ``style``: the request's style code (None: the zero code)."""
        cfg = self.face.config
        T = len(audio)
        _, chunk, overlap = self.chunks.frames(self.mel_config.fps)
        pinned = overlap // 2
        diffusion = self.face.diffusion()
        out = torch.zeros((1, FACE_DIMS, T), device=self.device)                # normalised sample
        st = self.face.style_condition(style, 1, self.device)                 # (1, S), or None without codes
        prev_end = 0
        for k, (start, end) in enumerate(chunk_spans(T, chunk, overlap)):
            known = prev_end - start                                            # frames the previous chunk sampled
            clip_x0 = self._pinned(out[..., start:start + pinned].clone()) if known > 0 else self.face.clip_x0
            cond = {"audio": torch.from_numpy(audio[start:end].T.copy())[None].to(self.device), "emotion": e}
            if st is not None:
                cond["style"] = st
            x = diffusion.ddim_sample(
                (1, FACE_DIMS, end - start), cond, sampling_steps=sampling_steps or cfg.sampling_steps,
                s_audio=cfg.s_audio, s_emotion=cfg.s_emotion, generator=chunk_generator(seed, k, self.device),
                device=self.device, clip_x0=clip_x0, eta=cfg.eta)               # (1, D, end - start)
            if known > 0:                                                       # cross-fade the rest of the overlap
                n = known - pinned
                w = torch.linspace(0, 1, n + 2, device=x.device)[1:-1]
                x[..., pinned:known] = out[..., start + pinned:prev_end] * (1 - w) + x[..., pinned:known] * w
            out[..., start:end] = x
            prev_end = end
        return self.face.denormalize(out)[0].float().cpu().numpy()              # (T, D)

    def run(self, mel: np.ndarray, emotion: np.ndarray, *, seed: int = 0, sampling_steps: int | None = None,
            style=None) -> dict:
        """mel (4T, n_mels) log-mel at the model's feature rate; emotion (7,) intensities in EMOTIONS order;
        ``style``: a style code for face diffusion (None: the zero code; module docstring).

        Returns float32 numpy: ``expression`` (T, 52) fast path, ``lip_offsets_mm`` (T, L, 3), ``p_closed``
        (T,), ``head_rad`` (T, 3) fast path; with face diffusion also ``upper`` (T, 23), ``head_sampled_rad``
        (T, 3), ``eyes_rad`` (T, 2, 3) for this seed.
        """
        with torch_threads(self.threads):
            return self._run(mel, emotion, seed=seed, sampling_steps=sampling_steps, style=style)

    @torch.no_grad()
    def _run(self, mel: np.ndarray, emotion: np.ndarray, *, seed: int, sampling_steps: int | None, style) -> dict:
        ratio = self.mel_config.feature_ratio
        if len(mel) % ratio:
            raise ValueError(f"mel: {len(mel)} frames is not a multiple of {ratio}")
        e = torch.as_tensor(np.asarray(emotion, np.float32))[None].to(self.device)   # (1, 7)
        res = self._lips(mel, e, audio=self.face is not None)
        if self.face is not None:
            upper, head, eyes = split_face(self._sample(res.pop("audio"), e, seed=seed, sampling_steps=sampling_steps,
                                                        style=style))
            res.update(upper=np.clip(upper, 0, 1), head_sampled_rad=head, eyes_rad=eyes)
        return res
