"""Train the neural face: ``parley train lips`` (the fast path) and ``parley train face`` (face diffusion).

nanoGPT's train.py in spirit: one loop, AdamW with warm-up and cosine decay, gradient clipping, a budget of
steps and/or minutes, validation on the corpus's ``val`` split once per epoch (a pass over the training
windows), the checkpoint written after each validation with the optimizer, step and RNG states so a run
resumes exactly (``--resume``), and the config dataclasses stored with the weights (:mod:`engine.learned.checkpoint`).

- ``lips``: :class:`engine.learned.lipsync.LipRegressor` with :func:`~engine.learned.lipsync.lip_loss`; the
  validation also calibrates the lips-closed threshold (best balanced accuracy on val bilabials) and stores it.
- ``face``: :class:`engine.learned.face.FaceDiffusion` on top of a frozen lip regressor (``--lips CKPT`` or
  the one inside ``--init``); the written file holds both, which is what the neural animator loads. A new face
  diffusion learns a style code per training clip (:data:`STYLE_DIMS` numbers; :mod:`engine.learned.face`): the
  clips' names are stored in the info (``style_clips``), and fine-tuning on another corpus (``--init``) appends
  codes for its clips to the table.

``--init default`` starts from the shipped weights (fine-tuning); the shipped file is never written.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from engine.learned.checkpoint import load_checkpoint, save_checkpoint
from engine.learned.denoiser import DenoiserConfig
from engine.learned.face import FaceConfig, FaceDiffusion, audio_condition, audio_dims
from engine.learned.layout import MOUTH_INDEX, UPPER_INDEX
from engine.learned.lipsync import LipConfig, LipRegressor, lip_loss
from engine.learned.paths import DEFAULT_CHECKPOINT
from engine.training.corpus.shards import corpus_records, manifest_sha256
from engine.training.data import FaceData, face_target_valid, face_targets
from engine.training.optim import lr_at, optimizer_step, rng_state, set_rng_state
from rigs.core.arkit import ARKIT_INDEX
from rigs.core.errors import ConfigError

log = logging.getLogger(__name__)

KINDS = ("lips", "face")
DEFAULT_SCHEDULE_STEPS = 6000
STATS_WINDOWS_CHECK = 64                        # windows looked at to see what a corpus holds
PER_WINDOW = ("expression_valid", "emotion")   # batch entries that are not per frame (never cropped)
THRESHOLDS = np.round(np.arange(0.1, 0.91, 0.05), 2)   # lips-closed thresholds tried on val
STYLE_DIMS = 16                                       # numbers in a new face diffusion's style code
NEW_FACE = FaceConfig(denoiser=DenoiserConfig(style_dims=STYLE_DIMS))   # a new face diffusion: + style codes


@dataclass(frozen=True)
class TrainConfig:
    kind: str = "lips"
    steps: int | None = None          # stop after this many optimizer steps (None: only the time budget)
    minutes: float | None = None      # stop after this much wall time (None: only the step budget)
    batch_size: int = 16
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 2
    val_windows: int = 256            # at most this many val windows per validation
    val_every: int | None = None      # validate (and save) every this many steps (None: once per epoch)
    crop_s: float | None = 2.0        # train on random crops of this length (normalised over the whole window)
    warp: float = 0.1                 # vocal-tract-length perturbation of the training mel (0: off)
    schedule_steps: int | None = None  # the cosine decays over this many steps (None: --steps, else 6000)


def _resolve_init(init: str | None) -> Path | None:
    if init is None:
        return None
    return DEFAULT_CHECKPOINT if init == "default" else Path(init)


def crop_batch(b: dict, frames: int, ratio: int, rng: np.random.Generator) -> dict:
    """The same random ``frames``-long crop of every per-frame tensor of a batch (mel: ``ratio`` x as many)."""
    W = b["mask"].shape[1]
    if frames >= W:
        return b
    a = int(rng.integers(0, W - frames + 1))
    out = {}
    for k, v in b.items():
        if k == "mel":
            out[k] = v[:, a * ratio:(a + frames) * ratio]
        elif k not in PER_WINDOW and v.dim() >= 2 and v.shape[1] == W:
            out[k] = v[:, a:a + frames]
        else:
            out[k] = v
    return out


def masked_lip_loss(out: dict, b: dict, config: LipConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """:func:`~engine.learned.lipsync.lip_loss` on the targets the batch really holds: a channel a capture did not
    measure (``expression_valid`` 0: FACEGOOD's eyes, brows, cheeks; every channel of a window without
    expression) takes the prediction itself (detached) as its target, so it adds no error and no gradient,
    whatever the shard holds there. Lip vertices, head and the lips-closed head are masked inside
    ``lip_loss`` (``has_lips``, ``has_head``, ``has_phones``). Teacher batches (all channels valid) are unchanged."""
    valid = b.get("expression_valid")
    if valid is not None and not bool((valid > 0).all()):
        v = valid[:, None, :]                                                  # (B, 1, 52)
        b = {**b, "expression": v * b["expression"] + (1 - v) * out["expression"].detach()}
    return lip_loss(out, b, config)


def _check_face_targets(data: FaceData, where) -> None:
    """Face diffusion learns the upper face, head and eyes: refuse a corpus whose windows do not measure the upper
    face (a FACEGOOD capture measures the mouth only) rather than teach it zeros. A capture without head or eye
    rotations (Live Link Face with head tracking off) trains the rest: :func:`face_batch` masks what is missing."""
    b = data.batch(np.arange(min(len(data), STATS_WINDOWS_CHECK)), mel_mean=None, mel_std=None)
    if not bool((b["expression_valid"][:, torch.from_numpy(UPPER_INDEX)] > 0).all()):
        raise ConfigError(f"{where}: the corpus does not measure the upper face that face diffusion learns (a "
                          "mouth-only capture such as FACEGOOD); fine-tune the lips instead "
                          "(`parley train lips --init default`): the shipped face diffusion comes along")


def face_batch(face: FaceDiffusion, b: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The diffusion target of a batch, normalised (B, D, W), and which dimensions each window holds (B, D)
    (:func:`~engine.training.data.face_target_valid`); an unmeasured dimension's target is 0 (the mean)."""
    dims = face_target_valid(b)
    return face.normalize(face_targets(b)) * dims[:, :, None], dims


@torch.no_grad()
def validate_lips(model: LipRegressor, val: FaceData, cfg: TrainConfig) -> dict:
    """Validation metrics of the fast path in physical units, and the calibrated lips-closed threshold."""
    model.eval()
    ks = np.arange(min(len(val), cfg.val_windows))
    losses, p_all, bil_all, sp_all, jaw_p, jaw_t, lip_err, ov = [], [], [], [], [], [], [], []
    for a in range(0, len(ks), cfg.batch_size):
        b = val.batch(ks[a:a + cfg.batch_size], mel_mean=model.mel_mean.cpu().numpy(),
                      mel_std=model.mel_std.cpu().numpy())
        out = {k: v.cpu() for k, v in model(*(b[k].to(model.mel_mean.device) for k in ("mel", "emotion"))).items()}
        losses.append(masked_lip_loss(out, b, model.config)[1]["loss"])
        m = b["mask"].bool() & (b["has_phones"][:, None] > 0)
        p_all.append(torch.sigmoid(out["closed_logit"])[m].numpy())
        bil_all.append(b["bilabial"][m].numpy() > 0)
        sp_all.append(np.ones(int(m.sum()), bool))
        jaw = ARKIT_INDEX["jawOpen"]
        mm = b["mask"].bool() & (b["expression_valid"][:, None, jaw] > 0)     # frames with a real jawOpen
        jaw_p.append(out["expression"][..., jaw][mm].numpy())
        jaw_t.append(b["expression"][..., jaw][mm].numpy())
        hl = b["mask"].bool() & (b["has_lips"][:, None] > 0)
        lip_err.append((out["lip_offsets_mm"] - b["lip_offsets_mm"]).norm(dim=-1).max(-1).values[hl].numpy())
        ov.append(out["expression"][..., jaw][m & (b["open_vowel"] > 0)].numpy())
    model.train()
    p, bil = np.concatenate(p_all), np.concatenate(bil_all)
    best_thr, best_ba = None, -1.0                # None without phone labels: keep the threshold it had
    for thr in (THRESHOLDS if bil.any() and (~bil).any() else ()):
        rec = float(np.mean(p[bil] >= thr)) if bil.any() else 0.0
        spec = float(np.mean(p[~bil] < thr)) if (~bil).any() else 0.0
        if 0.5 * (rec + spec) > best_ba:
            best_thr, best_ba = float(thr), 0.5 * (rec + spec)
    jp, jt = np.concatenate(jaw_p), np.concatenate(jaw_t)
    le = np.concatenate(lip_err) if lip_err else np.zeros(0)
    return {"val_loss": float(np.mean(losses)),
            "closed_recall": float(np.mean(p[bil] >= best_thr)) if best_thr is not None else float("nan"),
            "closed_false_rate": float(np.mean(p[~bil] >= best_thr)) if best_thr is not None else float("nan"),
            "closed_threshold": best_thr,
            "jaw_corr": float(np.corrcoef(jp, jt)[0, 1]) if jp.size > 1 and jp.std() > 0 and jt.std() > 0 else float("nan"),
            "lve_mm": float(le.mean()) if le.size else float("nan"),
            "open_vowel_jaw_mean": float(np.concatenate(ov).mean()) if sum(map(len, ov)) else float("nan")}


@torch.no_grad()
def validate_face(face: FaceDiffusion, lips: LipRegressor, val: FaceData, cfg: TrainConfig) -> dict:
    """Val diffusion loss with a fixed generator (comparable across epochs)."""
    face.eval()
    g = torch.Generator().manual_seed(1234)
    ks = np.arange(min(len(val), cfg.val_windows))
    losses = []
    diff = face.diffusion()
    for a in range(0, len(ks), cfg.batch_size):
        b = val.batch(ks[a:a + cfg.batch_size], mel_mean=lips.mel_mean.numpy(), mel_std=lips.mel_std.numpy())
        cond = {"audio": audio_condition(lips(b["mel"], b["emotion"])), "emotion": b["emotion"]}
        x0, dims = face_batch(face, b)
        losses.append(float(diff.training_loss(x0, cond, b["mask"], generator=g, p_drop_audio=0.0,
                                               p_drop_emotion=0.0, dims=dims)))
    face.train()
    return {"val_loss": float(np.mean(losses))}


def check_run(cfg: TrainConfig, *, out: str | Path, best: str | Path | None = None, resume: bool = False) -> None:
    """Refuse a run that cannot start, before any work (the CLI calls it before building a corpus of takes): an
    unknown kind, no budget, ``out`` or ``best`` being the shipped weights, ``best`` being ``out``, ``--resume``
    without ``out``. Raises ConfigError."""
    if cfg.kind not in KINDS:
        raise ConfigError(f"unknown model kind {cfg.kind!r}; choose from {', '.join(KINDS)}")
    if cfg.steps is None and cfg.minutes is None:
        raise ConfigError("give a budget: --steps N and/or --minutes M")
    out = Path(out)
    best = Path(best) if best is not None else None
    for path, flag in ((out, "--out"), (best, "--best")):
        if path is not None and path.resolve() == DEFAULT_CHECKPOINT.resolve():
            raise ConfigError(f"{path} is the shipped default; fine-tuning never overwrites it: choose another {flag}")
    if best is not None and best.resolve() == out.resolve():
        raise ConfigError("--best must be another file than --out (which keeps the last step and the training state)")
    if resume and not out.is_file():
        raise ConfigError(f"--resume: {out} does not exist yet")


def train(cfg: TrainConfig, *, data: str | Path, out: str | Path, init: str | None = None,
          lips_checkpoint: str | None = None, resume: bool = False, device: str = "cpu",
          extra_data: Sequence[str | Path] = (), best: str | Path | None = None,
          command: str | None = None, lip_config: LipConfig | None = None, face_config: FaceConfig | None = None,
          progress: Callable[[int, int | None, dict], None] | None = None) -> dict:
    """Train ``cfg.kind`` on the corpus ``data`` (its train split, plus those of ``extra_data``; validated on
    ``data``'s val split) and write ``out``; returns the final info dict.

    ``best``: also write, at every validation whose val loss is the run's lowest so far, those weights (without
    training state) to this file: early stopping that keeps the best step whatever the budget (a resumed run
    knows the lowest loss of its history).

    ``progress(step, total_steps or None, metrics)`` after every step (the CLI draws a bar). ``lip_config`` /
    ``face_config``: the architecture of a new model (default: the shipped sizes; tests use tiny ones).
    """
    check_run(cfg, out=out, best=best, resume=resume)
    out = Path(out)
    init_path = _resolve_init(init)
    best = Path(best) if best is not None else None
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    train_data, val_data = FaceData([data, *extra_data], "train"), FaceData(data, "val")
    manifest_sha = manifest_sha256(data)

    if cfg.kind == "face":
        _check_face_targets(train_data, data)

    # ---- models
    base = load_checkpoint(init_path) if init_path is not None else None
    lips_src = load_checkpoint(lips_checkpoint) if lips_checkpoint else base
    if cfg.kind == "lips":
        if base is not None:
            lips = base.lips
        else:
            lc = replace(lip_config or LipConfig(), num_lip_vertices=train_data.num_lip_vertices)
            lips = LipRegressor(replace(lc, encoder=replace(lc.encoder, mel=train_data.mel_config)))
            mean, std = train_data.mel_stats(seed=cfg.seed)
            lips.mel_mean.copy_(torch.from_numpy(mean))
            lips.mel_std.copy_(torch.from_numpy(std))
        face = base.face if base is not None else None
        trainable = lips
    else:
        if lips_src is None:
            raise ConfigError("face diffusion trains on top of a lip regressor: give --lips LIPS.pt or --init")
        lips = lips_src.lips
        lips.eval().requires_grad_(False)
        keys = train_data.style_keys()
        if base is not None and base.face is not None:
            face = base.face
            style_names = list(base.info.get("style_clips") or []) if face.style_codes is not None else []
            new = sorted(set(keys) - set(style_names)) if face.style_codes is not None else []
            if new:
                face.grow_styles(len(new))
                style_names += new
        else:
            fc = face_config or NEW_FACE
            fc = replace(fc, denoiser=replace(fc.denoiser, audio_dims=audio_dims(lips.config)))
            style_names = sorted(set(keys)) if fc.denoiser.style_dims else []
            face = FaceDiffusion(replace(fc, style_clips=len(style_names)))
            mean, std = train_data.face_stats(seed=cfg.seed)
            face.target_mean.copy_(torch.from_numpy(mean))
            face.target_std.copy_(torch.from_numpy(std))
        where = {k: i for i, k in enumerate(style_names)}
        window_style = np.array([where.get(k, -1) for k in keys], np.int64)   # -1: no code (a model without)
        trainable = face
    if lips.config.num_lip_vertices != train_data.num_lip_vertices:
        raise ConfigError(f"the corpus has {train_data.num_lip_vertices} lip vertices, the model "
                          f"{lips.config.num_lip_vertices}")
    lips.to(device)
    if face is not None:
        face.to(device)
    opt = torch.optim.AdamW(trainable.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed_s, history = 0, 0.0, []
    info_prev: dict = {}
    if cfg.kind == "lips" and base is not None:
        # kept unless val recalibrates it; the face diffusion that comes along keeps its style clips' names
        info_prev = {k: base.info[k] for k in ("closed_threshold", "style_clips") if k in base.info}
    if cfg.kind == "face" and lips_src is not None:       # the frozen lip regressor's record travels along
        li = lips_src.info
        info_prev = {"closed_threshold": li.get("closed_threshold", 0.5),
                     "lips": li.get("lips") or {k: li.get(k) for k in ("step", "command", "val", "elapsed_s",
                                                                        "corpus_manifest_sha256", "train_config")}}
    if resume:
        prev = load_checkpoint(out)
        if prev.training is None or prev.training.get("kind") != cfg.kind:
            raise ConfigError(f"--resume: {out} holds no {cfg.kind} training state")
        lips.load_state_dict(prev.lips.state_dict())
        if cfg.kind == "face":
            if list(prev.info.get("style_clips") or []) != style_names:
                raise ConfigError(f"--resume: {out} learned style codes for other clips than this corpus holds")
            face.load_state_dict(prev.face.state_dict())
        opt.load_state_dict(prev.training["optimizer"])
        step, elapsed_s = int(prev.training["step"]), float(prev.training["elapsed_s"])
        history = json.loads(prev.training["history"])
        set_rng_state(rng, prev.training["rng"])
        info_prev = {k: v for k, v in prev.info.items() if k in ("closed_threshold", "lips", "style_clips")} | info_prev
    n_params = sum(p.numel() for p in trainable.parameters())
    log.info("training %s: %d parameters, %d train / %d val windows", cfg.kind, n_params, len(train_data), len(val_data))
    total = cfg.schedule_steps or cfg.steps or (1 << 30 if cfg.minutes else DEFAULT_SCHEDULE_STEPS)
    steps_per_epoch = max(1, len(train_data) // cfg.batch_size)
    val_every = cfg.val_every or steps_per_epoch
    diffusion = face.diffusion() if cfg.kind == "face" else None
    trainable.train()
    t0 = time.monotonic() - elapsed_s
    metrics: dict = {}

    def epoch_order(epoch: int) -> np.ndarray:     # a function of (seed, epoch): a resumed run sees the same batches
        return np.random.default_rng([cfg.seed, epoch]).permutation(len(train_data))

    order = epoch_order(step // steps_per_epoch)

    best_loss = min((h["val_loss"] for h in history if np.isfinite(h.get("val_loss", np.nan))), default=np.inf)

    def save() -> None:
        nonlocal best_loss
        info = {**info_prev, "kind": cfg.kind, "step": step, "train_config": asdict(cfg), "command": command,
                "corpus": str(Path(data).resolve().name), "corpus_manifest_sha256": manifest_sha,
                "extra_corpora": corpus_records(extra_data), "parameters": n_params, "elapsed_s": round(time.monotonic() - t0, 1), "val": history[-1] if history else None,
                "init": str(init_path) if init_path else None}
        if metrics.get("closed_threshold") is not None:
            info["closed_threshold"] = metrics["closed_threshold"]
        if face is not None and face.style_codes is not None:
            info["style_clips"] = style_names if cfg.kind == "face" else info_prev.get("style_clips")
        training = {"kind": cfg.kind, "optimizer": opt.state_dict(), "step": step, "elapsed_s": time.monotonic() - t0,
                    "rng": rng_state(rng), "history": json.dumps(history)}
        save_checkpoint(out, lips=lips, face=face, info=info, training=training)
        val_loss = history[-1].get("val_loss", np.nan) if history and history[-1]["step"] == step else np.nan
        if best is not None and np.isfinite(val_loss) and val_loss < best_loss:     # early stopping's keeper
            best_loss = val_loss
            save_checkpoint(best, lips=lips, face=face, info={**info, "best_of": str(out)})

    while True:
        done_steps = cfg.steps is not None and step >= cfg.steps
        done_time = cfg.minutes is not None and (time.monotonic() - t0) >= 60.0 * cfg.minutes
        if done_steps or done_time:
            break
        pos = (step % steps_per_epoch) * cfg.batch_size
        if pos == 0 and step > 0:
            order = epoch_order(step // steps_per_epoch)
        ks = order[pos:pos + cfg.batch_size]
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step, total, time.monotonic() - t0)
        b = train_data.batch(ks, mel_mean=lips.mel_mean.numpy(), mel_std=lips.mel_std.numpy(), warp=cfg.warp, rng=rng)
        if cfg.crop_s:
            b = crop_batch(b, int(round(cfg.crop_s * train_data.spec.fps)), train_data.spec.feature_ratio, rng)
        if cfg.kind == "lips":
            loss, parts = masked_lip_loss(lips(b["mel"], b["emotion"]), b, lips.config)
        else:
            with torch.no_grad():
                cond = {"audio": audio_condition(lips(b["mel"], b["emotion"])), "emotion": b["emotion"]}
            if face.style_codes is not None:
                keep = (torch.rand(len(ks)) >= face.config.p_drop_style).float()[:, None]
                cond["style"] = face.style_codes(torch.from_numpy(window_style[ks])) * keep
            x0, dims = face_batch(face, b)
            loss = diffusion.training_loss(x0, cond, b["mask"], p_drop_audio=face.config.p_drop_audio,
                                           p_drop_emotion=face.config.p_drop_emotion, dims=dims)
            parts = {"loss": float(loss.detach())}
        optimizer_step(opt, loss, trainable.parameters(), grad_clip=cfg.grad_clip, what=f"{cfg.kind} training",
                       step=step)
        step += 1
        if progress is not None:
            progress(step, cfg.steps, parts)
        if step % val_every == 0:
            metrics = validate_lips(lips, val_data, cfg) if cfg.kind == "lips" else validate_face(face, lips, val_data, cfg)
            metrics = {"step": step, "train_loss": parts["loss"], **metrics}
            history.append(metrics)
            log.info("step %d: %s", step, json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                                       for k, v in metrics.items()}))
            save()
    if not history or history[-1]["step"] != step:
        metrics = validate_lips(lips, val_data, cfg) if cfg.kind == "lips" else validate_face(face, lips, val_data, cfg)
        metrics = {"step": step, **metrics}
        history.append(metrics)
    save()
    return load_checkpoint(out).info


SAMPLING_FIELDS = ("sampling_steps", "s_audio", "s_emotion", "eta")


def export(src: str | Path, dst: str | Path, *, card: dict | None = None, sampling: dict | None = None) -> Path:
    """A shipping copy of a trained checkpoint: float16 weights, no training state (a few MB). ``sampling``
    sets face diffusion's sampling settings (steps, guidance scales, eta) stored with it; training is untouched."""
    ck = load_checkpoint(src)
    if sampling:
        bad = set(sampling) - set(SAMPLING_FIELDS)
        if bad or ck.face is None:
            raise ConfigError(f"export --sampling: only {', '.join(SAMPLING_FIELDS)} of a face checkpoint, got {sorted(sampling)}")
        ck.face.config = replace(ck.face.config, **sampling)
    info = {**ck.info, **(card or {}), **({"sampling": sampling} if sampling else {})}
    return save_checkpoint(dst, lips=ck.lips, face=ck.face, info=info, half=True)


# the mouth channels the fast path owns (re-exported for tests and benchmarks)
__all__ = ["KINDS", "MOUTH_INDEX", "TrainConfig", "check_run", "export", "train", "validate_face", "validate_lips"]
