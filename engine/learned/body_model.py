"""The learned body: pose VQ + guide transformer + body diffusion in one file; numpy in and out.

:meth:`LearnedBody.run` takes one recording's log-mel and emotion and a seed and returns the upper-body joint
angles (:data:`engine.learned.body_vq.BODY_JOINTS`, local axis-angle) at the model's frame rate:

1. the guide samples one pose code a second (temperature, top-p), the VQ decodes them into keyframe poses;
2. body diffusion fills in 30 fps motion between the keyframes, chunk by chunk (:mod:`.body_diffusion`);
3. every joint is clamped to the canonical skeleton's XYZ-Euler limits (:func:`rigs.core.skeleton.joint_limits_rad`).

The checkpoint (``torch.save`` of plain containers, read with ``weights_only=True``)::

    {"format": "parley-learned-body", "schema_version": 1,
     "vq" / "guide" / "diffusion": {"config": JSON, "state": state_dict} (the stages trained so far),
     "info": JSON (command, seed, corpus manifest sha256, steps per stage, validation figures),
     "training": {...} or absent (the run's optimiser, stage, step and RNG states: ``--resume``)}

Its id is ``learned-body-`` + 12 hex digits of the file's sha256.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.learned.body_diffusion import BodyDiffusion, BodyDiffusionConfig, upsample_keys
from engine.learned.body_guide import BodyGuide, GuideConfig
from engine.learned.body_vq import BODY_JOINTS, PoseVQ, VQConfig, sixd_to_poses
from engine.learned.checkpoint import config_from_dict, save_modules
from engine.learned.features import normalize_mel
from engine.learned.threads import torch_threads
from rigs.core.errors import ConfigError
from rigs.core.files import sha256_file

log = logging.getLogger(__name__)

FORMAT = "parley-learned-body"
SCHEMA_VERSION = 1
STAGES = ("vq", "guide", "diffusion")
STAGE_CLASSES = {"vq": (PoseVQ, VQConfig), "guide": (BodyGuide, GuideConfig),
                 "diffusion": (BodyDiffusion, BodyDiffusionConfig)}
BUILD_HINT = ("build weights with `parley train body --data CORPUS_OR_MOCAP --out BODY.pt`, or point --checkpoint "
              "/ $PARLEY_BODY_CHECKPOINT at a learned-body checkpoint")


@dataclass(frozen=True)
class SampleConfig:
    """How a plan and its motion are sampled (None: the checkpoint's settings)."""

    temperature: float = 1.0
    top_p: float = 0.9
    sampling_steps: int | None = None
    s_audio: float | None = None
    s_guide: float | None = None


def save_body(path: str | Path, modules: dict, *, info: dict | None = None, training: dict | None = None,
              half: bool = False) -> Path:
    """Write the stages in ``modules`` ({"vq": PoseVQ, ...}) atomically; ``half`` stores float16 weights."""
    return save_modules(path, {name: modules.get(name) for name in STAGES}, format=FORMAT,
                        schema_version=SCHEMA_VERSION, info=info, training=training, half=half)


@dataclass
class LoadedBody:
    modules: dict
    info: dict
    training: dict | None
    path: Path
    sha256: str

    @property
    def id(self) -> str:
        return f"learned-body-{self.sha256[:12]}"

    def complete(self) -> bool:
        return all(self.modules.get(s) is not None for s in STAGES)


def load_body(path: str | Path, *, device: str = "cpu") -> LoadedBody:
    """Rebuild the stages from the file alone; ConfigError when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"learned-body weights not found at {path}; {BUILD_HINT}")
    try:
        body = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # truncated or foreign files raise many kinds
        raise ConfigError(f"{path}: not a learned-body checkpoint ({type(e).__name__}: {e}); {BUILD_HINT}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a learned-body checkpoint; {BUILD_HINT}")
    if body.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"{path}: learned-body schema {body.get('schema_version')!r}, this Parley reads "
                          f"{SCHEMA_VERSION}; {BUILD_HINT}")
    modules: dict = {}
    try:
        for name in STAGES:
            if name in body:
                cls, cfg_cls = STAGE_CLASSES[name]
                m = cls(config_from_dict(cfg_cls, json.loads(body[name]["config"])))
                m.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in body[name]["state"].items()})
                modules[name] = m
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ConfigError(f"{path}: damaged learned-body checkpoint ({e}); {BUILD_HINT}") from None
    return LoadedBody(modules=modules, info=json.loads(body.get("info", "{}")), training=body.get("training"),
                      path=path, sha256=sha256_file(path))


def clamp_to_limits(joint_angles_rad: np.ndarray, names=BODY_JOINTS) -> np.ndarray:
    """(T, J, 3) local axis-angle of ``names`` clamped to the canonical XYZ-Euler joint limits."""
    from rigs.core.rotations import axis_angle_to_matrix, euler_to_axis_angle, matrix_to_euler
    from rigs.core.skeleton import joint_limits_rad

    lim = joint_limits_rad()
    lo = np.stack([lim[n][:, 0] for n in names])                                  # (J, 3)
    hi = np.stack([lim[n][:, 1] for n in names])
    E = matrix_to_euler(axis_angle_to_matrix(np.asarray(joint_angles_rad, np.float64)), "XYZ")
    return euler_to_axis_angle(np.clip(E, lo, hi), "XYZ").astype(np.float32)


INFERENCE_THREADS = 1   # torch threads while sampling: the ops are small, and on a busy machine more threads spin
                        # (measured on 2 shared cores: 111x real time with 1 thread, 0.3-5.5x with 2)


class LearnedBody:
    """A complete loaded model in eval mode; see the module docstring. ``threads``: torch CPU threads while
    :meth:`run` samples (restored afterwards)."""

    def __init__(self, loaded: LoadedBody, *, device: str = "cpu", threads: int = INFERENCE_THREADS):
        if not loaded.complete():
            missing = [s for s in STAGES if loaded.modules.get(s) is None]
            raise ConfigError(f"{loaded.path}: the learned body lacks the {', '.join(missing)} stage(s); finish "
                              f"training with `parley train body --resume --out {loaded.path} ...`")
        self.loaded = loaded
        self.vq: PoseVQ = loaded.modules["vq"].eval().to(device)
        self.guide: BodyGuide = loaded.modules["guide"].eval().to(device)
        self.diff: BodyDiffusion = loaded.modules["diffusion"].eval().to(device)
        self.device = device
        self.threads = threads

    @property
    def mel_config(self):
        return self.diff.config.encoder.mel

    def _norm_mel(self, mel: np.ndarray, norm) -> torch.Tensor:
        mc = self.mel_config
        x, _ = normalize_mel(mel, mean=norm.mean.cpu().numpy(), std=norm.std.cpu().numpy(),
                             feature_fps=mc.feature_fps, tau_s=mc.tau_s)
        return torch.from_numpy(x)[None].to(self.device)                         # (1, ratio T, M)

    def run(self, mel: np.ndarray, emotion: np.ndarray, *, seed: int = 0,
            sample: SampleConfig = SampleConfig()) -> dict:
        """mel (ratio T, n_mels) log-mel at the model's feature rate; emotion (7,) in EMOTIONS order.

        Returns ``joint_angles_rad`` (T, len(BODY_JOINTS), 3) float32, ``codes`` (S,) the sampled plan and
        ``keys_rad`` (S, J, 3) its keyframe poses."""
        with torch_threads(self.threads):
            return self._run(mel, emotion, seed=seed, sample=sample)

    @torch.no_grad()
    def _run(self, mel: np.ndarray, emotion: np.ndarray, *, seed: int, sample: SampleConfig) -> dict:
        ratio = self.mel_config.feature_ratio
        if len(mel) % ratio or len(mel) == 0:
            raise ValueError(f"mel: {len(mel)} frames is not a positive multiple of {ratio}")
        T = len(mel) // ratio
        e = torch.as_tensor(np.asarray(emotion, np.float32))[None].to(self.device)   # (1, 7)
        g = torch.Generator(device=self.device).manual_seed(int(seed))
        codes = self.guide.sample(self._norm_mel(mel, self.guide.mel_norm), e, generator=g,
                                  temperature=sample.temperature, top_p=sample.top_p)   # (S,)
        keys_vq = self.vq.decode(codes.to(self.device))                               # (S, D) in the VQ's norm
        keys_6d = self.vq.norm.inverse(keys_vq)
        keys = self.diff.pose_norm(keys_6d)[None]                                     # (1, S, D) diffusion norm
        guide = upsample_keys(keys, T, self.guide.config.frames_per_key)              # (1, D, T)
        x = self.diff.sample(self._norm_mel(mel, self.diff.mel_norm), e, guide, generator=g,
                             sampling_steps=sample.sampling_steps, s_audio=sample.s_audio, s_guide=sample.s_guide)
        y6 = self.diff.pose_norm.inverse(x[0].transpose(0, 1)).cpu().numpy()          # (T, D)
        return {"joint_angles_rad": clamp_to_limits(sixd_to_poses(y6)), "codes": codes.numpy(),
                "keys_rad": sixd_to_poses(keys_6d.cpu().numpy())}
