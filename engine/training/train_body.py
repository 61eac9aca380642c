"""Train the learned body: ``parley train body`` runs the stages vq -> guide -> diffusion into one checkpoint.

Data (:class:`BodyData`) is either a corpus folder (``parley corpus build``; windows whose ``has`` flags hold
body labels, splits ``train``/``val``) or a folder of real motion capture a studio owns: BVH files with a wav of
the same stem (:func:`engine.training.readers.read_bvh_folder`, retargeted onto the canonical skeleton, a
``--retarget-map`` when the joint names are not detected) or BEAT2 SMPL-X npz files with their wav
(:func:`engine.training.readers.read_beat2_folder`), cut into windows by :func:`engine.training.readers.to_windows`;
one take in ten (by a hash of its id) is held out for validation.

- ``vq``: :class:`engine.learned.body_vq.PoseVQ` on every labelled frame; validation: reconstruction error in
  degrees (mean and 95th percentile over joints and frames).
- ``guide``: :class:`engine.learned.body_guide.BodyGuide` on the VQ codes of each window's keyframes (frame
  ``s * F + F // 2``), the code before the window being the previous window's last keyframe when the windows
  are consecutive parts of one item; validation: cross-entropy and accuracy.
- ``diffusion``: :class:`engine.learned.body_diffusion.BodyDiffusion` with the VQ-decoded keyframes of the
  real motion as the guide (teacher forcing); validation: the diffusion loss with a fixed generator.

The budget (``--minutes`` and/or ``--steps``) is split over the stages by :data:`STAGE_SHARE`. The
checkpoint is written every ``save_every_s`` seconds and at the end of each stage with the optimiser, step
and RNG state, so ``--resume`` continues a killed run where it stopped (finished stages are kept).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.learned.body_diffusion import BodyDiffusion, BodyDiffusionConfig, upsample_keys
from engine.learned.body_guide import BodyGuide, GuideConfig
from engine.learned.body_model import STAGES, load_body, save_body
from engine.learned.paths import DEFAULT_BODY_CHECKPOINT
from engine.learned.body_vq import BODY_JOINTS, POSE_DIMS, PoseVQ, VQConfig, poses_to_sixd
from engine.learned.features import LOG_FLOOR, MelConfig, normalize_mel
from engine.learned.layout import emotion_vector
from engine.training.optim import optimizer_step, rng_state, set_rng_state
from engine.training.corpus.shards import TARGETS, Corpus, CorpusSpec, manifest_sha256, read_corpus_json
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError
from rigs.core.skeleton import canonical_skeleton

log = logging.getLogger(__name__)

STAGE_SHARE = {"vq": 0.1, "guide": 0.25, "diffusion": 0.65}
VAL_HOLDOUT = 10                # mocap folders: one take in this many is held out
MIN_WINDOWS = 2
STATS_WINDOWS = 256           # windows sampled for the log-mel statistics
Progress = Callable[[str, int, "int | None", dict], None]


@dataclass(frozen=True)
class BodyTrainConfig:
    steps: int | None = None          # optimizer steps over all stages (split by STAGE_SHARE)
    minutes: float | None = None      # wall time over all stages (split by STAGE_SHARE)
    batch_size: int = 16
    vq_batch_frames: int = 512        # poses per VQ step
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    save_every_s: float = 60.0
    val_windows: int = 128
    vq: VQConfig = field(default_factory=VQConfig)
    guide: GuideConfig = field(default_factory=GuideConfig)
    diffusion: BodyDiffusionConfig = field(default_factory=BodyDiffusionConfig)


# -- data --------------------------------------------------------------------------------------------------------
class BodyData:
    """Windows with body labels, in memory: ``pose6`` (N, W, D) 6-D poses, ``mel`` (N, ratio W, M) float16
    log-mel, ``emotion`` (N, 7), ``mask`` (N, W) bool, ``prev`` (N,) index of the window just before (same
    item, consecutive) or -1."""

    def __init__(self, spec: CorpusSpec, windows: list[dict], *, source: str):
        if len(windows) < MIN_WINDOWS:
            raise ConfigError(f"{source}: {len(windows)} windows with body motion; at least {MIN_WINDOWS} are needed")
        self.spec, self.source = spec, source
        sk = canonical_skeleton()
        idx = [sk.names.index(n) for n in BODY_JOINTS]
        ja = np.stack([w["joint_angles"][:, idx] for w in windows]).astype(np.float32)     # (N, W, J, 3)
        self.pose6 = poses_to_sixd(ja)                                                      # (N, W, D)
        self.mel = np.stack([w["mel"] for w in windows]).astype(np.float16)
        self.emotion = np.stack([emotion_vector(dict(zip(EMOTIONS, map(float, w["emotion"]), strict=True)))
                                 for w in windows]).astype(np.float32)
        self.mask = np.stack([w["mask"] for w in windows]).astype(bool)
        keys = [(w["item"], round(float(w["start_s"]), 3)) for w in windows]
        where = {k: i for i, k in enumerate(keys)}
        self.prev = np.array([where.get((it, round(s - spec.window_s, 3)), -1) for it, s in keys])
        self.mel_config = MelConfig(sample_rate=spec.sample_rate, fps=spec.fps, feature_ratio=spec.feature_ratio,
                                    n_mels=spec.n_mels)

    def __len__(self) -> int:
        return len(self.pose6)

    def mel_stats(self, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        ks = np.random.default_rng(seed).choice(len(self), size=min(len(self), STATS_WINDOWS), replace=False)
        m = np.maximum(self.mel[ks].reshape(-1, self.mel.shape[-1]).astype(np.float64), LOG_FLOOR)
        return m.mean(0).astype(np.float32), np.maximum(m.std(0), 1e-3).astype(np.float32)

    def pose_stats(self) -> tuple[np.ndarray, np.ndarray]:
        v = self.pose6[self.mask].astype(np.float64)
        return v.mean(0).astype(np.float32), np.maximum(v.std(0), 1e-3).astype(np.float32)

    def batch(self, ks, *, mel_mean, mel_std) -> dict[str, torch.Tensor]:
        ks = np.asarray(ks)
        mel, _ = normalize_mel(self.mel[ks].astype(np.float32), mean=mel_mean, std=mel_std,
                               feature_fps=self.mel_config.feature_fps, tau_s=self.mel_config.tau_s)
        return {"mel": torch.from_numpy(mel), "pose6": torch.from_numpy(self.pose6[ks]),
                "emotion": torch.from_numpy(self.emotion[ks]), "mask": torch.from_numpy(self.mask[ks].astype(np.float32)),
                "prev": torch.from_numpy(self.prev[ks])}


def _corpus_windows(root: Path, split: str) -> list[dict]:
    c = Corpus(root, split=split)
    col = TARGETS.index("joint_angles")
    keys = ("joint_angles", "mel", "emotion", "mask", "has")
    out = []
    for k in range(len(c)):
        w = c.window(k, keys)
        if bool(w["has"][col]):
            out.append({**w, "item": w["info"]["item"], "start_s": w["info"]["start_s"]})
    return out


def _mocap_windows(root: Path, *, retarget_map=None) -> tuple[CorpusSpec, dict[str, list[dict]], dict]:
    from engine.training.readers import read_beat2_folder, read_bvh_folder, to_windows

    spec = CorpusSpec(num_joints=canonical_skeleton().num_joints, num_lip_vertices=0)
    report = read_bvh_folder(root, retarget_map=retarget_map) if any(root.rglob("*.bvh")) else read_beat2_folder(root)
    for path, why in getattr(report, "skipped", []):
        log.warning("skipped %s: %s", path, why)
    if not report.takes:
        raise ConfigError(f"{root}: no usable mocap take (BVH + wav of the same stem, or BEAT2 npz + wav) and no "
                          f"corpus.json; skipped: {len(getattr(report, 'skipped', []))}")
    splits: dict[str, list[dict]] = {"train": [], "val": []}
    held = [t for t in report.takes if int(hashlib.sha256(t.take_id.encode()).hexdigest(), 16) % VAL_HOLDOUT == 0]
    if not held or len(held) == len(report.takes):
        held = [report.takes[-1]] if len(report.takes) > 1 else []
    for row, take in enumerate(report.takes):
        split = "val" if take in held else "train"
        for w in to_windows(take, spec, row=row, split=split):
            splits[split].append({**w.arrays, "item": w.item, "start_s": w.start_s})
    if not splits["val"]:
        log.warning("%s: a single take; validating on its training windows", root)
        splits["val"] = splits["train"]
    return spec, splits, {"takes": len(report.takes), "held_out": [t.take_id for t in held]}


def open_body_data(data: str | Path, *, retarget_map=None) -> tuple[BodyData, BodyData, dict]:
    """(train, val, provenance) from a corpus folder or a mocap folder (module docstring)."""
    root = Path(data)
    if not root.is_dir():
        raise ConfigError(f"--data {root}: no such folder")
    if (root / "corpus.json").is_file():
        spec, _ = read_corpus_json(root)
        if spec.num_joints != canonical_skeleton().num_joints:
            raise ConfigError(f"{root}: the corpus has no canonical body ({spec.num_joints} joints)")
        prov = {"kind": "corpus", "corpus": root.name, "corpus_manifest_sha256": manifest_sha256(root)}
        return (BodyData(spec, _corpus_windows(root, "train"), source=f"{root} (train)"),
                BodyData(spec, _corpus_windows(root, "val"), source=f"{root} (val)"), prov)
    spec, splits, info = _mocap_windows(root, retarget_map=retarget_map)
    return (BodyData(spec, splits["train"], source=str(root)), BodyData(spec, splits["val"], source=str(root)),
            {"kind": "mocap", "folder": root.name, **info})


# -- targets shared by the stages ----------------------------------------------------------------------------------
def key_frames(W: int, frames_per_key: int) -> np.ndarray:
    """Frames of a window's keyframes: s * F + F // 2 inside the window."""
    return np.arange(frames_per_key // 2, W, frames_per_key)


@torch.no_grad()
def window_codes(vq: PoseVQ, pose6: torch.Tensor, frames_per_key: int) -> torch.Tensor:
    """(B, W, D) 6-D poses -> (B, S) VQ codes of the keyframes."""
    kf = torch.from_numpy(key_frames(pose6.shape[1], frames_per_key))
    x = vq.norm(pose6[:, kf])                                                    # (B, S, D)
    return vq.encode(x.reshape(-1, POSE_DIMS)).reshape(x.shape[:2])


@torch.no_grad()
def teacher_guide(vq: PoseVQ, diff: BodyDiffusion, pose6: torch.Tensor, frames_per_key: int) -> torch.Tensor:
    """(B, W, D) real poses -> (B, D, W) the guide the diffusion is trained on: the keyframes' VQ
    reconstructions, interpolated, in the diffusion's normalisation."""
    codes = window_codes(vq, pose6, frames_per_key)                              # (B, S)
    keys = diff.pose_norm(vq.norm.inverse(vq.decode(codes.reshape(-1))).reshape(codes.shape + (POSE_DIMS,)))
    return upsample_keys(keys, pose6.shape[1], frames_per_key)


# -- the loop ------------------------------------------------------------------------------------------------------
def _lr(cfg: BodyTrainConfig, step: int, frac: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


@torch.no_grad()
def validate(stage: str, modules: dict, val: BodyData, cfg: BodyTrainConfig) -> dict:
    ks = np.arange(min(len(val), cfg.val_windows))
    for m in modules.values():
        m.eval()
    out: dict = {}
    if stage == "vq":
        vq = modules["vq"]
        x = vq.norm(torch.from_numpy(val.pose6[ks][val.mask[ks]]))
        err = vq.error_deg(x).numpy()
        out = {"rec_err_deg_mean": float(err.mean()), "rec_err_deg_p95": float(np.percentile(err, 95)),
               "codes_used": int(vq.encode(x).unique().numel())}
    elif stage == "guide":
        g, vq = modules["guide"], modules["vq"]
        b = val.batch(ks, mel_mean=g.mel_norm.mean.numpy(), mel_std=g.mel_norm.std.numpy())
        codes = window_codes(vq, b["pose6"], g.config.frames_per_key)
        first = _first_prev(vq, val, ks, g)
        kmask = b["mask"][:, torch.from_numpy(key_frames(b["mask"].shape[1], g.config.frames_per_key))]
        _, parts = g.loss(b["mel"], b["emotion"], codes, first, kmask)
        out = {"val_ce": parts["loss"], "val_acc": parts["acc"]}
    else:
        d, vq = modules["diffusion"], modules["vq"]
        gen = torch.Generator().manual_seed(1234)
        b = val.batch(ks, mel_mean=d.mel_norm.mean.numpy(), mel_std=d.mel_norm.std.numpy())
        guide = teacher_guide(vq, d, b["pose6"], cfg.guide.frames_per_key)
        out = {"val_loss": float(d.loss(b["mel"], b["emotion"], d.pose_norm(b["pose6"]).transpose(1, 2), guide,
                                        b["mask"], generator=gen, p_drop=(0.0, 0.0)))}
    for m in modules.values():
        m.train()
    return out


@torch.no_grad()
def _first_prev(vq: PoseVQ, data: BodyData, ks, guide: BodyGuide) -> torch.Tensor:
    """(B,) the code of the last keyframe of each window's predecessor (the begin token when none)."""
    out = torch.full((len(ks),), guide.begin, dtype=torch.long)
    prev = data.prev[np.asarray(ks)]
    has = np.flatnonzero(prev >= 0)
    if len(has):
        p6 = torch.from_numpy(data.pose6[prev[has]])
        out[torch.from_numpy(has)] = window_codes(vq, p6, guide.config.frames_per_key)[:, -1]
    return out


def train_body(cfg: BodyTrainConfig, *, data: str | Path, out: str | Path, resume: bool = False,
               command: str | None = None, retarget_map=None, progress: Progress | None = None) -> dict:
    """Train the stages into ``out``; returns the final info. ``progress(stage, step, total, parts)``."""
    if cfg.steps is None and cfg.minutes is None:
        raise ConfigError("give a budget: --minutes M and/or --steps N")
    out = Path(out)
    if out.resolve() == DEFAULT_BODY_CHECKPOINT.resolve() and resume is False and out.exists():
        raise ConfigError(f"{out} is the shipped default; write to another --out and copy it deliberately")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    train, val, prov = open_body_data(data, retarget_map=retarget_map)
    log.info("learned body: %d train / %d val windows from %s", len(train), len(val), data)
    mel_cfg = train.mel_config
    modules: dict = {"vq": PoseVQ(cfg.vq),
                     "guide": BodyGuide(replace(cfg.guide, encoder=replace(cfg.guide.encoder, mel=mel_cfg),
                                                codebook_size=cfg.vq.codebook_size)),
                     "diffusion": BodyDiffusion(replace(cfg.diffusion, encoder=replace(cfg.diffusion.encoder, mel=mel_cfg)))}
    mel_mean, mel_std = train.mel_stats(seed=cfg.seed)
    pose_mean, pose_std = train.pose_stats()
    modules["vq"].norm.set(pose_mean, pose_std)
    modules["diffusion"].pose_norm.set(pose_mean, pose_std)
    for name in ("guide", "diffusion"):
        modules[name].mel_norm.mean.copy_(torch.from_numpy(mel_mean))
        modules[name].mel_norm.std.copy_(torch.from_numpy(mel_std))

    done: list[str] = []
    state: dict = {}
    history: dict = {}
    if resume:
        if not out.is_file():
            raise ConfigError(f"--resume: {out} does not exist yet")
        prev = load_body(out)
        if prev.training is None:
            raise ConfigError(f"--resume: {out} holds no training state (a finished or exported checkpoint)")
        for name, m in prev.modules.items():
            modules[name].load_state_dict(m.state_dict())
        done = list(prev.training["done"])
        state = prev.training
        history = dict(prev.info.get("val", {}))
        set_rng_state(rng, state["rng"])
    t_start = time.monotonic()
    steps_done = dict(state.get("steps", {}))

    def save(stage: str | None, step: int, opt, elapsed_s: float) -> None:
        info = {"command": command, "seed": cfg.seed, **prov, "train_config": json.loads(json.dumps(asdict(cfg))),
                "steps": {**steps_done, **({stage: step} if stage else {})}, "val": history,
                "joints": list(BODY_JOINTS), "train_windows": len(train), "val_windows": len(val)}
        training = {"done": done, "stage": stage, "step": step, "elapsed_s": elapsed_s,
                    "optimizer": None if opt is None else opt.state_dict(), "rng": rng_state(rng),
                    "steps": {**steps_done, **({stage: step} if stage else {})}}
        save_body(out, {k: modules[k] for k in STAGES if k in done or k == stage}, info=info, training=training)

    for stage in STAGES:
        if stage in done:
            continue
        model = modules[stage]
        model.train()
        for other in STAGES:
            if other != stage:
                modules[other].eval()
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        step, elapsed0 = 0, 0.0
        if state.get("stage") == stage:
            step, elapsed0 = int(state["step"]), float(state["elapsed_s"])
            if state.get("optimizer") is not None:
                opt.load_state_dict(state["optimizer"])
        max_steps = None if cfg.steps is None else max(1, int(round(cfg.steps * STAGE_SHARE[stage])))
        max_s = None if cfg.minutes is None else 60.0 * cfg.minutes * STAGE_SHARE[stage]
        t0 = time.monotonic() - elapsed0
        last_save = time.monotonic()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + STAGES.index(stage))
        while True:
            el = time.monotonic() - t0
            if (max_steps is not None and step >= max_steps) or (max_s is not None and el >= max_s):
                break
            frac = max(step / max_steps if max_steps else 0.0, el / max_s if max_s else 0.0)
            for group in opt.param_groups:
                group["lr"] = _lr(cfg, step, frac)
            loss, parts = _step(stage, modules, train, cfg, rng, gen)
            optimizer_step(opt, loss, model.parameters(), grad_clip=cfg.grad_clip, what=f"{stage} training", step=step)
            step += 1
            if progress is not None:
                progress(stage, step, max_steps, parts)
            if time.monotonic() - last_save > cfg.save_every_s:
                save(stage, step, opt, time.monotonic() - t0)
                last_save = time.monotonic()
        history[stage] = {"step": step, "train": parts if step else None, **validate(stage, modules, val, cfg)}
        log.info("%s done: %s", stage, json.dumps(history[stage]))
        steps_done[stage] = step
        done.append(stage)
        save(None, 0, None, 0.0)
    log.info("learned body trained in %.0f s", time.monotonic() - t_start)
    save(None, 0, None, 0.0)
    return load_body(out).info


def _step(stage: str, modules: dict, train: BodyData, cfg: BodyTrainConfig, rng: np.random.Generator, gen):
    if stage == "vq":
        vq = modules["vq"]
        n = len(train)
        ks = rng.integers(0, n, cfg.vq_batch_frames)
        fr = rng.integers(0, train.pose6.shape[1], cfg.vq_batch_frames)
        keep = train.mask[ks, fr]
        x = vq.norm(torch.from_numpy(train.pose6[ks[keep], fr[keep]]))
        return vq.loss(x, generator=gen)
    ks = rng.choice(len(train), size=min(cfg.batch_size, len(train)), replace=False)
    if stage == "guide":
        g, vq = modules["guide"], modules["vq"]
        b = train.batch(ks, mel_mean=g.mel_norm.mean.numpy(), mel_std=g.mel_norm.std.numpy())
        codes = window_codes(vq, b["pose6"], g.config.frames_per_key)
        kmask = b["mask"][:, torch.from_numpy(key_frames(b["mask"].shape[1], g.config.frames_per_key))]
        return g.loss(b["mel"], b["emotion"], codes, _first_prev(vq, train, ks, g), kmask)
    d, vq = modules["diffusion"], modules["vq"]
    b = train.batch(ks, mel_mean=d.mel_norm.mean.numpy(), mel_std=d.mel_norm.std.numpy())
    guide = teacher_guide(vq, d, b["pose6"], cfg.guide.frames_per_key)
    loss = d.loss(b["mel"], b["emotion"], d.pose_norm(b["pose6"]).transpose(1, 2), guide, b["mask"], generator=gen)
    return loss, {"loss": float(loss.detach())}


def export_body(src: str | Path, dst: str | Path, *, card: dict | None = None) -> Path:
    """A shipping copy: float16 weights, no training state."""
    ck = load_body(src)
    if not ck.complete():
        raise ConfigError(f"{src}: training has not finished every stage; resume it first")
    return save_body(dst, ck.modules, info={**ck.info, **(card or {})}, half=True)


__all__ = ["BodyData", "BodyTrainConfig", "STAGE_SHARE", "export_body", "open_body_data", "train_body"]
