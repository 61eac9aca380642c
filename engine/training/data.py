"""Training batches for the neural face models, read from a corpus (:class:`engine.training.corpus.shards.Corpus`).

:class:`FaceData` opens one split of a corpus, checks that it can train a model (windows exist, the feature
layout matches, the audio is not silent) and hands out batches of float32 torch tensors:

- ``mel`` (B, 4W, n_mels): causally normalised log-mel (:func:`engine.learned.features.normalize_mel`);
- ``emotion`` (B, 7) through :func:`engine.learned.layout.emotion_vector`;
- ``expression`` (B, W, 52), ``lip_offsets_mm`` (B, W, L, 3), ``head_rad`` (B, W, 3) (neck + head joint
  rotations), ``eyes_rad`` (B, W, 6);
- ``bilabial``, ``open_vowel``, ``mask`` (B, W) 0/1 from the corpus's phones and mask;
- ``has_lips``, ``has_head``, ``has_eyes``, ``has_phones`` (B,) 0/1: which targets the window really holds (the
  head and eyes: a body, or a face capture's head and eye rotations, ``windows.json``'s ``joints_valid``);
- ``expression_valid`` (B, 52) 0/1: the ARKit channels the window's capture measured (all of them for teacher
  labels; FACEGOOD: the mouth and jaw, from ``windows.json``'s ``expression_valid``; none without expression).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.learned.features import LOG_FLOOR, MelConfig, normalize_mel
from engine.learned.layout import (BILABIAL_INDEX, EYE_DIMS, EYE_JOINTS, HEAD_DIMS, HEAD_JOINTS, OPEN_VOWEL_INDEX,
                                   UPPER_INDEX, emotion_vector)
from engine.training.corpus.shards import MIN_WINDOWS, TARGETS, Corpus, take_id
from rigs.core.arkit import NUM_CHANNELS
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError
from rigs.core.skeleton import canonical_skeleton

SILENT_MEL = LOG_FLOOR + 1.0    # a window whose loudest mel bin stays below this is silent
STATS_WINDOWS = 256             # windows sampled for the normalisation statistics


def mel_config_of(spec) -> MelConfig:
    return MelConfig(sample_rate=spec.sample_rate, fps=spec.fps, feature_ratio=spec.feature_ratio, n_mels=spec.n_mels)


class FaceData:
    """One split of a corpus as training batches (module docstring)."""

    def __init__(self, corpus_dir: str | Path, split: str):
        self.corpus = Corpus(corpus_dir, split=split)
        self.spec = self.corpus.spec
        self.split = split
        if len(self.corpus) < MIN_WINDOWS:
            raise ConfigError(f"{corpus_dir}: split {split!r} has {len(self.corpus)} windows; at least "
                              f"{MIN_WINDOWS} are needed (build a larger corpus)")
        sk = canonical_skeleton()
        if self.spec.num_joints not in (0, sk.num_joints):
            raise ConfigError(f"{corpus_dir}: {self.spec.num_joints} joints, expected the canonical {sk.num_joints}")
        self.head_joints = [sk.names.index(n) for n in HEAD_JOINTS]
        self.eye_joints = [sk.names.index(n) for n in EYE_JOINTS]
        self.head_joint = sk.names.index("head")        # a face capture's total head rotation sits here
        self.mel_config = mel_config_of(self.spec)
        self.has_lips_col, self.has_body_col = TARGETS.index("lip_offsets_mm"), TARGETS.index("joint_angles")

    def __len__(self) -> int:
        return len(self.corpus)

    @property
    def num_lip_vertices(self) -> int:
        return int(self.spec.num_lip_vertices)

    def raw(self, k: int) -> dict:
        return self.corpus.window(k)

    def style_keys(self) -> list[str]:
        """Every window's clip (:func:`style_key`), in window order: what a style code belongs to."""
        return [style_key(self.corpus.shards[s].index[i]) for s, i in self.corpus.refs]

    def mel_stats(self, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(n_mels,) mean and std of the floored log-mel over up to STATS_WINDOWS windows; ConfigError if silent."""
        return mel_stats(lambda k: self.raw(k)["mel"], len(self), seed=seed, where=f"{self.corpus.root}: the {self.split}")

    def face_stats(self, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(FACE_DIMS,) mean and std of the diffusion targets (upper face, head, eyes) over real frames."""
        rng = np.random.default_rng(seed)
        ks = rng.choice(len(self), size=min(len(self), STATS_WINDOWS), replace=False)
        b = self.batch(ks, mel_mean=None, mel_std=None)
        y = face_targets(b).numpy().astype(np.float64)                      # (B, W, D)
        w = (b["mask"][:, :, None] * face_target_valid(b)[:, None, :]).numpy()   # real frames of measured dims
        n = w.sum((0, 1))
        if not (n > 0).all():
            u = len(UPPER_INDEX)
            parts = {"the upper face": n[:u], "the head": n[u:u + HEAD_DIMS], "the eyes": n[u + HEAD_DIMS:]}
            missing = ", ".join(k for k, v in parts.items() if not (v > 0).all())
            raise ConfigError(f"{self.corpus.root}: the {self.split} split never measures {missing}, which a new "
                              "face diffusion learns; fine-tune the shipped one instead (`--init default`), which "
                              "leaves out what a capture did not measure")
        mean = (y * w).sum((0, 1)) / n
        std = np.sqrt(((y - mean) ** 2 * w).sum((0, 1)) / n)
        return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)

    def batch(self, ks, *, mel_mean, mel_std, warp: float = 0.0,
              rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        """Windows ``ks`` as a batch of tensors (module docstring); mel_mean None skips the mel. ``warp`` > 0
        stretches each window's mel axis by a random factor in [1 - warp, 1 + warp] (a vocal-tract-length
        perturbation: other voices from few speakers), drawn from ``rng``."""
        ws = [self.raw(int(k)) for k in ks]
        W = self.spec.frames
        out: dict[str, np.ndarray] = {}
        if mel_mean is not None:
            mel = np.stack([w["mel"] for w in ws]).astype(np.float32)       # (B, 4W, M)
            if warp > 0 and rng is not None:
                mel = warp_mel(mel, rng.uniform(1 - warp, 1 + warp, len(ws)))
            out["mel"], _ = normalize_mel(mel, mean=mel_mean, std=mel_std, feature_fps=self.mel_config.feature_fps,
                                          tau_s=self.mel_config.tau_s)
        out["emotion"] = np.stack([emotion_vector(dict(zip(EMOTIONS, map(float, w["emotion"]), strict=True)))
                                   for w in ws])
        out["expression"] = np.stack([w["expression"] for w in ws]).astype(np.float32)
        out["lip_offsets_mm"] = np.stack([w["lip_offsets_mm"] for w in ws]).astype(np.float32)
        if self.spec.num_joints:
            ja = np.stack([w["joint_angles"] for w in ws]).astype(np.float32)     # (B, W, J, 3)
            out["head_rad"] = ja[:, :, self.head_joints].sum(2)
            out["eyes_rad"] = ja[:, :, self.eye_joints].reshape(len(ws), W, 6)
        else:
            out["head_rad"] = np.zeros((len(ws), W, 3), np.float32)
            out["eyes_rad"] = np.zeros((len(ws), W, 6), np.float32)
        ph = np.stack([w["phones"] for w in ws]).astype(np.int64)            # (B, W)
        out["bilabial"] = np.isin(ph, BILABIAL_INDEX).astype(np.float32)
        out["open_vowel"] = np.isin(ph, OPEN_VOWEL_INDEX).astype(np.float32)
        out["mask"] = np.stack([w["mask"] for w in ws]).astype(np.float32)
        has = np.stack([w["has"] for w in ws])
        out["has_lips"] = has[:, self.has_lips_col].astype(np.float32)
        body = has[:, self.has_body_col]
        jv = [joints_valid(w["info"]) for w in ws]
        out["has_head"] = np.array([b or self.head_joint in v for b, v in zip(body, jv, strict=True)], np.float32)
        out["has_eyes"] = np.array([b or set(self.eye_joints) <= v for b, v in zip(body, jv, strict=True)], np.float32)
        out["has_phones"] = has[:, TARGETS.index("phones")].astype(np.float32)
        out["expression_valid"] = np.stack([expression_valid(w["info"], bool(h[TARGETS.index("expression")]))
                                            for w, h in zip(ws, has, strict=True)])
        return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in out.items()}


def style_key(info: dict) -> str:
    """The labelled take a window comes from (:func:`engine.training.corpus.shards.take_id` of its manifest
    item: ``ljspeech_part/LJ001-0002#t0a1`` -> ``ljspeech_part/LJ001-0002#t0``); a window without an item is its own
    clip (``row:<n>``)."""
    item = info.get("item")
    return take_id(str(item)) if item else f"row:{info.get('row')}"


def mel_stats(mel_of, n: int, *, seed: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(n_mels,) mean and std of the floored log-mel of up to STATS_WINDOWS of the ``n`` windows (``mel_of(k)``:
    window k's log-mel), drawn with ``seed``; ConfigError naming ``where`` when that audio is silent."""
    rng = np.random.default_rng(seed)
    ks = rng.choice(n, size=min(n, STATS_WINDOWS), replace=False)
    mel = np.concatenate([np.maximum(mel_of(int(k)).astype(np.float64), LOG_FLOOR) for k in ks])
    if mel.max() < SILENT_MEL:
        raise ConfigError(f"{where} audio is silent; nothing to learn from")
    return mel.mean(0).astype(np.float32), np.maximum(mel.std(0), 1e-3).astype(np.float32)


def expression_valid(info: dict, has_expression: bool) -> np.ndarray:
    """(52,) float32 0/1: the channels a window's expression target really holds (its index entry ``info``)."""
    valid = np.zeros(NUM_CHANNELS, np.float32)
    if has_expression:
        idx = info.get("expression_valid")
        valid[np.arange(NUM_CHANNELS) if idx is None else np.asarray(idx, np.int64)] = 1.0
    return valid


def joints_valid(info: dict) -> set[int]:
    """The joints whose rotations a window of a face capture measured (its index entry ``info``; empty for other
    windows, whose ``has`` flag of ``joint_angles`` tells whether they hold a whole body)."""
    return {int(j) for j in info.get("joints_valid") or ()}


def warp_mel(mel: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(B, F, M) log-mel with each window's bin axis scaled by factors (B,): bin j takes bin j / factor
    (factor > 1 moves formants up, as a shorter vocal tract does), linearly interpolated, edges held."""
    B, _, M = mel.shape
    src = np.clip(np.arange(M)[None, :] / np.asarray(factors)[:, None], 0, M - 1)   # (B, M)
    lo = np.minimum(np.floor(src).astype(np.int64), M - 2)
    frac = (src - lo).astype(np.float32)[:, None, :]                                # (B, 1, M)
    take = lambda idx: np.take_along_axis(mel, np.broadcast_to(idx[:, None, :], mel.shape), axis=2)  # noqa: E731
    return take(lo) * (1 - frac) + take(lo + 1) * frac


def face_targets(batch: dict) -> torch.Tensor:
    """(B, W, FACE_DIMS) what diffusion generates: upper-face weights, head, eyes."""
    return torch.cat([batch["expression"][..., torch.from_numpy(UPPER_INDEX)], batch["head_rad"], batch["eyes_rad"]],
                     dim=-1)


def face_target_valid(batch: dict) -> torch.Tensor:
    """(B, FACE_DIMS) 0/1: which of :func:`face_targets`' dimensions each window really holds (the upper-face
    channels its capture measured, the head, the eyes)."""
    B = batch["has_head"].shape[0]
    return torch.cat([batch["expression_valid"][:, torch.from_numpy(UPPER_INDEX)],
                      batch["has_head"][:, None].expand(B, HEAD_DIMS), batch["has_eyes"][:, None].expand(B, EYE_DIMS)],
                     dim=1)
