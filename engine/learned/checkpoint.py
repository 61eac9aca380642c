"""The neural-face checkpoint: one file holds the models, their configs, and (while training) the run's state.

nanoGPT-style: the config dataclasses are stored next to the weights, so a model is rebuilt from the file
alone. Layout (``torch.save`` of plain containers, read back with ``weights_only=True``)::

    {"format": "parley-neural-face", "schema_version": 1,
     "lips": {"config": JSON of LipConfig, "state": state_dict},
     "face": {"config": JSON of FaceConfig, "state": state_dict} or absent,
     "info": JSON (how it was made: command, seed, corpus manifest hash, step, validation metrics),
     "training": {...} or absent (optimizer, step, RNG states: a run resumes from it)}

A checkpoint's id is ``neural-face-`` + the first 12 hex digits of the file's sha256. Missing files, files of
another format and other schema versions raise :class:`rigs.core.errors.ConfigError` saying how to build them.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.learned.face import FaceConfig, FaceDiffusion, NeuralFace
from engine.learned.lipsync import LipConfig, LipRegressor
from engine.learned.paths import CHECKPOINT_ENV
from rigs.core.errors import ConfigError
from rigs.core.files import atomic_write, sha256_file

log = logging.getLogger(__name__)

FORMAT = "parley-neural-face"
SCHEMA_VERSION = 1
BUILD_HINT = ("build weights with `parley train lips --data CORPUS --out LIPS.pt` then "
              "`parley train face --data CORPUS --lips LIPS.pt --out FACE.pt`, or point --checkpoint / "
              f"${CHECKPOINT_ENV} at a neural-face checkpoint")


def config_to_json(config) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def config_from_dict(cls, d: dict):
    """A (nested, frozen) config dataclass from its asdict() form; unknown keys are refused."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    extra = set(d) - names
    if extra:
        raise ConfigError(f"{cls.__name__}: unknown settings {sorted(extra)}")
    kw = {}
    for k, v in d.items():
        t = hints[k]
        if dataclasses.is_dataclass(t):
            kw[k] = config_from_dict(t, v)
        elif isinstance(v, list):
            kw[k] = tuple(v)
        else:
            kw[k] = v
    return cls(**kw)


def module_state(module: torch.nn.Module, half: bool) -> dict:
    """A module's weights to store (copies; float16 when ``half``)."""
    sd = module.state_dict()
    return {k: (v.half() if half and v.is_floating_point() else v).clone() for k, v in sd.items()}


def save_modules(path: str | Path, modules: dict, *, format: str, schema_version: int, info: dict | None = None,
                 training: dict | None = None, half: bool = False) -> Path:
    """Write a checkpoint file atomically: each named module that is not None as its config (JSON) and weights
    (``half``: float16, for shipping), the info as JSON, the training state as given. Every learned model's
    file (the neural face, the learned body) has this layout."""
    body: dict = {"format": format, "schema_version": schema_version, "info": json.dumps(info or {}, sort_keys=True)}
    for name, module in modules.items():
        if module is not None:
            body[name] = {"config": config_to_json(module.config), "state": module_state(module, half)}
    if training is not None:
        body["training"] = training
    return atomic_write(Path(path), lambda f: torch.save(body, f))


def save_checkpoint(path: str | Path, *, lips: LipRegressor, face: FaceDiffusion | None = None,
                    info: dict | None = None, training: dict | None = None, half: bool = False) -> Path:
    """Write atomically; ``half`` stores float16 weights (shipping), the training state is kept as given."""
    return save_modules(path, {"lips": lips, "face": face}, format=FORMAT, schema_version=SCHEMA_VERSION,
                        info=info, training=training, half=half)


@dataclass
class Loaded:
    lips: LipRegressor
    face: FaceDiffusion | None
    info: dict
    training: dict | None
    path: Path
    sha256: str

    @property
    def id(self) -> str:
        return f"neural-face-{self.sha256[:12]}"

    def model(self, device: str = "cpu") -> NeuralFace:
        return NeuralFace(self.lips, self.face, device=device)

    def styles(self) -> tuple[list[str], np.ndarray]:
        """The learned style codes: the training clips' names (the info's ``style_clips``) and their codes
        (N, S) float32; empty for weights without style codes."""
        if self.face is None or self.face.style_codes is None:
            return [], np.zeros((0, 0), np.float32)
        names = list(self.info.get("style_clips") or [])
        codes = self.face.style_codes.weight.detach().float().cpu().numpy()
        if len(names) != len(codes):
            raise ConfigError(f"{self.path}: {len(codes)} style codes but {len(names)} clip names; rebuild the weights")
        return names, codes


def load_checkpoint(path: str | Path, *, device: str = "cpu", require_face: bool = False) -> Loaded:
    """Rebuild the models from the file alone (module docstring); ConfigError when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"neural-face weights not found at {path}; {BUILD_HINT}")
    try:
        body = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # a truncated or foreign file: torch raises many kinds
        raise ConfigError(f"{path}: not a neural-face checkpoint ({type(e).__name__}: {e}); {BUILD_HINT}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a neural-face checkpoint; {BUILD_HINT}")
    if body.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"{path}: neural-face checkpoint schema {body.get('schema_version')!r}, this Parley "
                          f"reads {SCHEMA_VERSION}; rebuild the weights ({BUILD_HINT})")
    try:
        lips = LipRegressor(config_from_dict(LipConfig, json.loads(body["lips"]["config"])))
        lips.load_state_dict({k: v.float() for k, v in body["lips"]["state"].items()})
        face = None
        if "face" in body:
            face = FaceDiffusion(config_from_dict(FaceConfig, json.loads(body["face"]["config"])))
            face.load_state_dict({k: v.float() for k, v in body["face"]["state"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ConfigError(f"{path}: damaged neural-face checkpoint ({e}); {BUILD_HINT}") from None
    if require_face and face is None:
        raise ConfigError(f"{path} holds only the lip regressor; the neural animator also needs face diffusion: "
                          f"`parley train face --lips {path} --data CORPUS --out FACE.pt`")
    return Loaded(lips=lips, face=face, info=json.loads(body.get("info", "{}")), training=body.get("training"),
                  path=path, sha256=sha256_file(path))
