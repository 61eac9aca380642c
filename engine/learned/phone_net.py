"""The acoustic phone model of the phonetic engine: normalised log-mel -> per-frame phone log-posteriors, in
numpy (no torch: the phonetic engine stays light to start; the network is trained by
``parley train phones``, :mod:`engine.training.train_phones`, which holds the torch twin of this forward pass).

Architecture (non-causal: the phonetic engine works on whole recordings)::

    (F, n_mels) log-mel at 4 x fps, normalised (engine.learned.features.normalize_mel)
      -> conv k5 (same) -> ReLU -> conv k4 stride 2 -> ReLU                 (C, F / 2): 60 Hz for 30 fps
      -> blocks: x + mix1x1(ReLU(conv_k3_dilated(ReLU(LayerNorm(x)))))
      -> LayerNorm -> linear -> (F / 2, len(PHONE_LABELS)) log-softmax

Frame j of the output is centred on time j / (2 * fps) (the stride-2 conv's window is centred half a feature
frame later: 4 ms at 120 Hz, ignored). An output frame sees ``PhoneNetConfig.context_frames`` output frames
either side (42, about 0.7 s, with the defaults), so a long recording is run in chunks with that much context
either side and the result is the same as one pass.

The weights file (``.npz``) holds the arrays under their torch names, ``config`` (JSON), the class priors of the
training frames (``log_prior``) and a phone bigram (``log_bigram``, row: previous phone) for the phone-loop
decoder (:mod:`engine.phonetics.neural`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rigs.core.errors import ConfigError
from rigs.core.files import atomic_write, sha256_file, write_npz
from rigs.core.phones import LABELS

WEIGHTS_FILE = Path(__file__).resolve().parent / "weights" / "phone_net.npz"
WEIGHTS_ENV = "PARLEY_PHONE_NET"              # another weights file to use instead of the shipped one
FORMAT = "parley-phone-net-1"
LN_EPS = 1e-5


@dataclass(frozen=True)
class PhoneNetConfig:
    n_mels: int = 80
    channels: int = 160
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4)
    stride: int = 2                          # feature frames per output frame
    num_classes: int = len(LABELS)
    feature_fps: float = 120.0
    tau_s: float = 2.0                       # the mel normalisation's running-mean time constant

    @property
    def output_fps(self) -> float:
        return self.feature_fps / self.stride

    @property
    def context_frames(self) -> int:
        """Output frames either side that influence one output frame."""
        return 2 + 2 + sum(self.dilations)

    @classmethod
    def from_dict(cls, d: dict) -> "PhoneNetConfig":
        return cls(**{**d, "dilations": tuple(d["dilations"])})


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int = 1, dilation: int = 1,
          pad: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Conv1d of (Cin, L) with weights (Cout, Cin, K), as one matrix product over the stacked taps (contiguous
    copies: numpy's matmul is several times slower on strided views)."""
    if pad != (0, 0):
        x = np.pad(x, ((0, 0), pad))
    cout, cin, K = w.shape
    n = (x.shape[1] - dilation * (K - 1) - 1) // stride + 1
    cols = np.empty((K, cin, n), np.float32)
    for k in range(K):
        a = k * dilation
        cols[k] = x[:, a:a + stride * (n - 1) + 1:stride]
    y = w.transpose(0, 2, 1).reshape(cout, K * cin) @ cols.reshape(K * cin, n)
    y += b[:, None]
    return y


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """LayerNorm over channels of (C, L), frame by frame."""
    m = x.mean(0, keepdims=True)
    v = ((x - m) ** 2).mean(0, keepdims=True)
    return (x - m) / np.sqrt(v + LN_EPS) * g[:, None] + b[:, None]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


@dataclass
class PhoneNet:
    """A loaded phone model (see the module docstring); :meth:`log_posteriors` runs it."""

    config: PhoneNetConfig
    weights: dict[str, np.ndarray]
    mel_mean: np.ndarray
    mel_std: np.ndarray
    log_prior: np.ndarray                    # (K,) log frame priors of the training labels
    log_bigram: np.ndarray                   # (K, K) log P(next phone | phone), phone changes only
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # float32 throughout (a shipped file stores float16)
        self.weights = {k: np.ascontiguousarray(v, np.float32) for k, v in self.weights.items()}

    @classmethod
    def load(cls, path: str | Path) -> "PhoneNet":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"phone model {path} does not exist")
        try:
            sha = sha256_file(path)
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}: not a phone model ({e})") from None
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") != FORMAT:
            raise ConfigError(f"{path}: not a phone model (format {meta.get('format')!r}, expected {FORMAT})")
        config = PhoneNetConfig.from_dict(meta["config"])
        if list(meta.get("labels", [])) != list(LABELS):
            raise ConfigError(f"{path}: its phone set differs from this version's")
        special = {k: arrays.pop(k) for k in ("mel_mean", "mel_std", "log_prior", "log_bigram")}
        info = {**meta.get("info", {}), "file": path.name, "sha256": sha, "id": f"phone-net-{sha[:12]}"}
        return cls(config, arrays, **special, info=info)

    def save(self, path: str | Path, *, half: bool = True) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        dt = np.float16 if half else np.float32
        info = {k: v for k, v in self.info.items() if k not in ("file", "sha256", "id")}   # those describe a file
        meta = {"format": FORMAT, "config": asdict(self.config), "labels": list(LABELS), "info": info}
        arrays = {k: v.astype(dt) for k, v in self.weights.items()}
        arrays.update(meta=np.array(json.dumps(meta)), mel_mean=self.mel_mean.astype(np.float32),
                      mel_std=self.mel_std.astype(np.float32), log_prior=self.log_prior.astype(np.float32),
                      log_bigram=self.log_bigram.astype(np.float32))
        return atomic_write(path, lambda f: write_npz(f, arrays))

    # -- forward ------------------------------------------------------------------------------------------
    def _forward(self, x: np.ndarray) -> np.ndarray:
        """(F, n_mels) normalised mel -> (F // stride, K) logits, one pass (no chunking)."""
        w, cfg = self.weights, self.config
        h = _relu(_conv(x.T.astype(np.float32), w["stem.weight"], w["stem.bias"], pad=(2, 2)))
        h = _relu(_conv(h, w["down.weight"], w["down.bias"], stride=cfg.stride, pad=(1, 1)))
        for i, d in enumerate(cfg.dilations):
            p = f"blocks.{i}."
            z = _relu(_layer_norm(h, w[p + "norm.weight"], w[p + "norm.bias"]))
            z = _relu(_conv(z, w[p + "conv.weight"], w[p + "conv.bias"], dilation=d, pad=(d, d)))
            h = h + w[p + "mix.weight"][:, :, 0] @ z + w[p + "mix.bias"][:, None]
        h = _layer_norm(h, w["norm.weight"], w["norm.bias"])
        return (w["out.weight"] @ h + w["out.bias"][:, None]).T

    def logits(self, mel_norm: np.ndarray, *, chunk_frames: int = 3600) -> np.ndarray:
        """(F, n_mels) normalised log-mel -> (F // stride, K) logits; long inputs in chunks of
        ``chunk_frames`` output frames with enough context either side that the result equals one pass."""
        s, c = self.config.stride, self.config.context_frames + 2
        n = len(mel_norm) // s
        if n <= chunk_frames + 2 * c:
            return self._forward(mel_norm[:n * s])
        out = np.empty((n, self.config.num_classes), np.float32)
        for a in range(0, n, chunk_frames):
            b = min(n, a + chunk_frames)
            lo, hi = max(0, a - c), min(n, b + c)
            y = self._forward(mel_norm[lo * s:hi * s])
            out[a:b] = y[a - lo:b - lo]
        return out

    def log_posteriors(self, mel_norm: np.ndarray) -> np.ndarray:
        """(F, n_mels) normalised log-mel -> (F // stride, K) log P(phone | audio) per output frame."""
        z = self.logits(mel_norm)
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))


def default_path() -> Path:
    import os

    return Path(os.environ.get(WEIGHTS_ENV) or WEIGHTS_FILE)


def shipped_weights_present() -> bool:
    return default_path().is_file()
