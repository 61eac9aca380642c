"""Train the phonetic engine's acoustic phone model: ``parley train phones``.

The network (:class:`PhoneNetTorch`) is the torch twin of :class:`engine.learned.phone_net.PhoneNet` (same
layer names, same forward pass), trained with frame-level cross-entropy on the corpus's phones (30 fps labels
repeated onto the model's 60 Hz frames; unknown phones and padded frames are ignored; windows whose ``has``
flags say they hold no phones are skipped). Real speech's phones in the corpus come from forced alignment with
its transcript (speakers the lip-sync benchmark holds out are never in a corpus); synthetic speech's from
the synthesiser's own segment times; pseudo-labelled speech's (``parley corpus build --sources pseudo``) from
recognition. ``--more-data CORPUS`` (repeatable) adds another corpus's train split to the training windows
(validation stays on ``--data``'s val split), e.g. a pseudo-labelled corpus beside the transcribed one.

Like the face trainer (:mod:`.train_face`): AdamW, warm-up and cosine decay over the step or time budget,
vocal-tract-length warping of the mel, validation on the ``val`` split once per epoch (frame accuracy,
bilabial recall and precision), the checkpoint (torch, with optimizer, step and RNG state: ``--resume``
continues exactly, the config and command stored with it) written after each validation. ``--export`` writes
the numpy weights file the phonetic engine loads, with the class priors and the phone bigram of the training
labels.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.learned.features import normalize_mel
from engine.learned.layout import BILABIAL_INDEX
from engine.learned.phone_net import WEIGHTS_FILE, PhoneNet, PhoneNetConfig
from engine.training.corpus.shards import TARGETS, Corpus, corpus_records, manifest_sha256
from engine.training.data import mel_stats, warp_mel
from engine.training.optim import lr_at, optimizer_step, rng_state, set_rng_state
from rigs.core.errors import ConfigError
from rigs.core.files import atomic_write
from rigs.core.phones import LABELS

log = logging.getLogger(__name__)

IGNORE = -100
BIGRAM_FLOOR = 0.5                   # add-this smoothing of the phone bigram counts


@dataclass(frozen=True)
class PhoneTrainConfig:
    steps: int | None = None
    minutes: float | None = None
    batch_size: int = 24
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.05
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 2
    val_windows: int = 384
    val_every: int | None = None
    warp: float = 0.1                  # vocal-tract-length perturbation (0: off)
    freq_masks: int = 2                # SpecAugment-style masks of up to freq_mask_bins mel bins ...
    freq_mask_bins: int = 8
    time_masks: int = 2                # ... and of up to time_mask_frames feature frames
    time_mask_frames: int = 12
    dropout: float = 0.25
    schedule_steps: int | None = None


class Block(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):                                      # (B, C, T)
        z = F.relu(self.norm(x.transpose(1, 2)).transpose(1, 2))
        return x + self.drop(self.mix(F.relu(self.conv(z))))


class PhoneNetTorch(nn.Module):
    """(B, F, n_mels) normalised log-mel -> (B, F // stride, K) logits (module docstring of phone_net)."""

    def __init__(self, config: PhoneNetConfig, dropout: float = 0.1):
        super().__init__()
        self.config = config
        C = config.channels
        self.stem = nn.Conv1d(config.n_mels, C, 5, padding=2)
        self.down = nn.Conv1d(C, C, 4, stride=config.stride, padding=1)
        self.blocks = nn.ModuleList(Block(C, d, dropout) for d in config.dilations)
        self.norm = nn.LayerNorm(C)
        self.out = nn.Linear(C, config.num_classes)

    def forward(self, mel):
        h = F.relu(self.down(F.relu(self.stem(mel.transpose(1, 2)))))
        for b in self.blocks:
            h = b(h)
        return self.out(self.norm(h.transpose(1, 2)))          # (B, T, K)


class PhoneData:
    """The windows of one corpus split that hold phones (of several corpora read as one, when given a list), as
    (mel, labels) batches."""

    def __init__(self, corpus_dir: str | Path | Sequence[str | Path], split: str, config: PhoneNetConfig):
        self.corpus = Corpus(corpus_dir, split=split)
        spec = self.corpus.spec
        if spec.n_mels != config.n_mels or abs(spec.feature_fps - config.feature_fps) > 1e-6:
            raise ConfigError(f"{corpus_dir}: mel layout {spec.n_mels} bins at {spec.feature_fps} Hz, the phone "
                              f"model expects {config.n_mels} at {config.feature_fps}")
        col = TARGETS.index("phones")
        self.keys = [k for k in range(len(self.corpus)) if self._has_phones(k, col)]
        if len(self.keys) < 2:
            raise ConfigError(f"{corpus_dir}: split {split!r} has {len(self.keys)} windows with phones; "
                              "at least 2 are needed")
        self.ratio = int(round(config.feature_fps / spec.fps))      # feature frames per label frame
        self.stride = config.stride
        self.tau_s, self.feature_fps = config.tau_s, config.feature_fps

    def _has_phones(self, k: int, col: int) -> bool:
        s, i = self.corpus.refs[k]
        return bool(self.corpus.shards[s]["has"][i][col])

    def __len__(self) -> int:
        return len(self.keys)

    def raw(self, j: int) -> dict:
        return self.corpus.window(self.keys[j], ("mel", "phones", "mask"))

    def labels(self, w: dict) -> np.ndarray:
        """(T_out,) int64 class per model frame (IGNORE where unknown or padded). A label frame k holds the
        phone at time k / fps; a model frame between two label frames whose phones differ could hold either
        (the boundary lies somewhere in between), so it is ignored rather than given the earlier phone, which
        would teach the model to hear every phone late."""
        ph = np.where(w["mask"], w["phones"].astype(np.int64), -1)
        ph = np.where(ph < 0, IGNORE, ph)
        r = self.ratio // self.stride                              # model frames per label frame
        out = np.repeat(ph, r)
        if r > 1:
            nxt = np.r_[ph[1:], IGNORE]
            between = np.repeat(ph != nxt, r) & (np.arange(out.size) % r != 0)
            out[between] = IGNORE
        return out

    def mel_stats(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return mel_stats(lambda j: self.raw(j)["mel"], len(self), seed=seed, where=f"{self.corpus.root}: the training")

    def batch(self, js, *, mean, std, cfg: PhoneTrainConfig | None = None,
              rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ws = [self.raw(int(j)) for j in js]
        mel = np.stack([w["mel"] for w in ws]).astype(np.float32)
        if cfg is not None and rng is not None and cfg.warp > 0:
            mel = warp_mel(mel, rng.uniform(1 - cfg.warp, 1 + cfg.warp, len(ws)))
        x, _ = normalize_mel(mel, mean=mean, std=std, feature_fps=self.feature_fps, tau_s=self.tau_s)
        if cfg is not None and rng is not None:
            for b in range(len(ws)):
                for _ in range(cfg.freq_masks):
                    width = int(rng.integers(0, cfg.freq_mask_bins + 1))
                    a = int(rng.integers(0, x.shape[2] - width + 1))
                    x[b, :, a:a + width] = 0.0
                for _ in range(cfg.time_masks):
                    width = int(rng.integers(0, cfg.time_mask_frames + 1))
                    a = int(rng.integers(0, x.shape[1] - width + 1))
                    x[b, a:a + width, :] = 0.0
        y = np.stack([self.labels(w) for w in ws])
        n = min(x.shape[1] // self.stride, y.shape[1])
        return torch.from_numpy(np.ascontiguousarray(x[:, :n * self.stride])), torch.from_numpy(y[:, :n])

    def label_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Log frame priors (K,) and the smoothed log phone bigram (K, K) of every window's labels."""
        K = len(LABELS)
        frames = np.zeros(K)
        big = np.full((K, K), BIGRAM_FLOOR)
        np.fill_diagonal(big, 0.0)
        for j in range(len(self)):
            w = self.raw(j)
            ph = w["phones"][w["mask"]].astype(np.int64)
            ph = ph[ph >= 0]
            frames += np.bincount(ph, minlength=K)
            seq = ph[np.r_[True, ph[1:] != ph[:-1]]]
            np.add.at(big, (seq[:-1], seq[1:]), 1.0)
        prior = np.maximum(frames, 1.0)            # a phone never seen still gets one frame's worth
        prior /= prior.sum()
        big /= big.sum(1, keepdims=True)
        with np.errstate(divide="ignore"):          # no self-transitions: log 0 = -inf on the diagonal
            return np.log(prior).astype(np.float32), np.log(big).astype(np.float32)


@torch.no_grad()
def validate(model: PhoneNetTorch, val: PhoneData, cfg: PhoneTrainConfig, mean, std) -> dict:
    model.eval()
    js = np.arange(min(len(val), cfg.val_windows))
    losses, correct, total, bil_hit, bil_n, bil_pred, bil_pred_ok = [], 0, 0, 0, 0, 0, 0
    bil = torch.from_numpy(BILABIAL_INDEX)
    for a in range(0, len(js), cfg.batch_size):
        x, y = val.batch(js[a:a + cfg.batch_size], mean=mean, std=std)
        z = model(x)
        losses.append(float(F.cross_entropy(z.flatten(0, 1), y.flatten(), ignore_index=IGNORE)))
        m = y != IGNORE
        pred = z.argmax(-1)
        correct += int((pred == y)[m].sum())
        total += int(m.sum())
        yb, pb = torch.isin(y, bil) & m, torch.isin(pred, bil) & m
        bil_n += int(yb.sum())
        bil_hit += int((yb & pb).sum())
        bil_pred += int(pb.sum())
        bil_pred_ok += int((yb & pb).sum())
    model.train()
    return {"val_loss": float(np.mean(losses)), "frame_accuracy": correct / max(total, 1),
            "bilabial_recall": bil_hit / max(bil_n, 1), "bilabial_precision": bil_pred_ok / max(bil_pred, 1)}


def train(cfg: PhoneTrainConfig, *, data: str | Path, out: str | Path, resume: bool = False,
          extra_data: Sequence[str | Path] = (), net_config: PhoneNetConfig | None = None, command: str | None = None,
          progress: Callable[[int, int | None, dict], None] | None = None) -> dict:
    """Train on the corpus ``data`` (its train split, plus those of ``extra_data``; validated on ``data``'s val
    split) and write the checkpoint ``out`` (torch); returns its info dict."""
    if cfg.steps is None and cfg.minutes is None:
        raise ConfigError("give a budget: --steps N and/or --minutes M")
    out = Path(out)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    nc = net_config or PhoneNetConfig()
    step, elapsed_s, history = 0, 0.0, []
    prev = None
    if resume:
        if not out.is_file():
            raise ConfigError(f"--resume: {out} does not exist yet")
        prev = torch.load(out, map_location="cpu", weights_only=False)
        nc = PhoneNetConfig.from_dict(prev["net_config"])
    extras = corpus_records(extra_data)
    if prev is not None and extras != (prev.get("extra_corpora") or []):
        raise ConfigError(f"--resume: {out} was trained with extra corpora {prev.get('extra_corpora') or []}, "
                          f"not {extras}")
    train_data, val_data = PhoneData([data, *extra_data], "train", nc), PhoneData(data, "val", nc)
    manifest_sha = manifest_sha256(data)
    model = PhoneNetTorch(nc, dropout=cfg.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if prev is not None:
        model.load_state_dict(prev["model"])
        opt.load_state_dict(prev["optimizer"])
        step, elapsed_s, history = int(prev["step"]), float(prev["elapsed_s"]), list(prev["history"])
        mean, std = prev["mel_mean"], prev["mel_std"]
        set_rng_state(rng, prev["rng"])
    else:
        mean, std = train_data.mel_stats(cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("phone model: %d parameters, %d train / %d val windows", n_params, len(train_data), len(val_data))
    total = cfg.schedule_steps or cfg.steps or (1 << 30)
    steps_per_epoch = max(1, len(train_data) // cfg.batch_size)
    val_every = cfg.val_every or steps_per_epoch
    t0 = time.monotonic() - elapsed_s

    def order_of(epoch: int) -> np.ndarray:
        return np.random.default_rng([cfg.seed, epoch]).permutation(len(train_data))

    def save(path: Path = out) -> None:
        ck = {"net_config": asdict(nc), "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
              "elapsed_s": time.monotonic() - t0, "history": history, "rng": rng_state(rng),
              "mel_mean": mean, "mel_std": std, "train_config": asdict(cfg), "command": command,
              "corpus": Path(data).resolve().name, "corpus_manifest_sha256": manifest_sha, "extra_corpora": extras,
              "parameters": n_params}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: torch.save(ck, f))

    order = order_of(step // steps_per_epoch)
    model.train()
    parts: dict = {}
    while not ((cfg.steps is not None and step >= cfg.steps)
               or (cfg.minutes is not None and time.monotonic() - t0 >= 60.0 * cfg.minutes)):
        pos = (step % steps_per_epoch) * cfg.batch_size
        if pos == 0 and step > 0:
            order = order_of(step // steps_per_epoch)
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step, total, time.monotonic() - t0)
        x, y = train_data.batch(order[pos:pos + cfg.batch_size], mean=mean, std=std, cfg=cfg, rng=rng)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=IGNORE)
        optimizer_step(opt, loss, model.parameters(), grad_clip=cfg.grad_clip, what="phone training", step=step)
        step += 1
        parts = {"loss": float(loss.detach())}
        if progress is not None:
            progress(step, cfg.steps, parts)
        if step % val_every == 0:
            history.append({"step": step, "train_loss": parts["loss"], **validate(model, val_data, cfg, mean, std)})
            log.info("step %d: %s", step, json.dumps(history[-1]))
            save()
            if history[-1]["val_loss"] <= min(h["val_loss"] for h in history):
                save(best_path(out))          # the lowest validation loss so far (export it with --init)
    if not history or history[-1]["step"] != step:
        history.append({"step": step, **validate(model, val_data, cfg, mean, std)})
    save()
    return {"step": step, "val": history[-1], "parameters": n_params}


def best_path(out: str | Path) -> Path:
    """Where training keeps the checkpoint of its lowest validation loss, beside ``out``."""
    out = Path(out)
    return out.with_name(out.stem + ".best" + out.suffix)


def export(src: str | Path, dst: str | Path | None = None, *, data: str | Path, extra_data: Sequence[str | Path] = (),
           card: dict | None = None) -> Path:
    """The numpy weights file of a trained checkpoint (float16), with the label statistics of the training split
    of ``data`` and ``extra_data`` (priors for the hybrid decoding, the phone bigram for the phone loop)."""
    ck = torch.load(Path(src), map_location="cpu", weights_only=False)
    nc = PhoneNetConfig.from_dict(ck["net_config"])
    prior, bigram = PhoneData([data, *extra_data], "train", nc).label_statistics()
    info = {k: ck.get(k) for k in ("step", "command", "train_config", "corpus", "corpus_manifest_sha256",
                                   "extra_corpora", "parameters")}
    info.update(val=ck["history"][-1] if ck["history"] else None, **(card or {}))
    weights = {k: v.float().numpy() for k, v in ck["model"].items()}
    net = PhoneNet(nc, weights, np.asarray(ck["mel_mean"]), np.asarray(ck["mel_std"]), prior, bigram, info=info)
    return net.save(Path(dst) if dst else WEIGHTS_FILE)


def torch_twin(net: PhoneNet) -> PhoneNetTorch:
    """A torch module holding ``net``'s weights (tests compare the two forward passes)."""
    m = PhoneNetTorch(replace(net.config), dropout=0.0)
    m.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in net.weights.items()})
    return m.eval()
