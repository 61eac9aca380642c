"""Pose VQ-VAE: one upper-body pose of the canonical skeleton <-> a discrete code.

The learned body moves the joints of :data:`BODY_JOINTS` (torso and arms; legs, pelvis, neck, head, jaw and
eyes stay with the procedural body, which plants the feet and follows the face's head). Inside the models a
pose is the 6-D rotation representation of each joint (the first two columns of its rotation matrix, Zhou et
al. 2019, "On the Continuity of Rotation Representations"), normalised per dimension with the training set's
statistics; clips keep local axis-angle. The torch conversions live here (numpy ones in
:mod:`rigs.core.rotations`).

The quantiser is a VQ-VAE (van den Oord et al. 2017) over single poses, as Audio2Photoreal's guide-pose
codebook (Ng et al. 2024), sized for a CPU:

    pose (N, D = 6 J) --MLP--> z (N, code_dim) --nearest codebook row--> q --MLP--> pose (N, D)

with the straight-through gradient, the codebook and commitment losses, and restarts of codes no batch
uses (re-seeded at random encoder outputs, as in Jukebox's VQ-VAE). :func:`geodesic_deg` measures the
reconstruction error in degrees.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# the joints the learned body animates (canonical skeleton names), in this order inside the models
BODY_JOINTS: tuple[str, ...] = (
    "spine1", "spine2", "spine3", "left_collar", "right_collar", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist")
SIXD = 6
POSE_DIMS = SIXD * len(BODY_JOINTS)


# -- rotations (torch) ---------------------------------------------------------------------------------------
def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues; exact near zero)."""
    theta = aa.norm(dim=-1, keepdim=True)[..., None]                           # (..., 1, 1)
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(aa.shape[:-1] + (3, 3))
    small = theta < 1e-6
    safe = torch.where(small, torch.ones_like(theta), theta)
    a = torch.where(small, 1 - theta ** 2 / 6, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - theta ** 2 / 24, (1 - torch.cos(safe)) / safe ** 2)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(K)
    return eye + a * K + b * (K @ K)


def matrix_to_sixd(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns, column after column."""
    return R[..., :, :2].transpose(-1, -2).reshape(R.shape[:-2] + (6,))


def sixd_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (any 6-vector maps to a rotation)."""
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def geodesic_deg(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) pairs -> (...,) angle of R1^T R2 in degrees."""
    R = R1.transpose(-1, -2) @ R2
    cos = (R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    w = torch.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    return torch.rad2deg(torch.atan2(0.5 * w.norm(dim=-1), cos))             # exact near 0 and 180 degrees


def poses_to_sixd(joint_angles_rad: np.ndarray) -> np.ndarray:
    """(..., J_body, 3) axis-angle of :data:`BODY_JOINTS` -> (..., POSE_DIMS) float32 6-D rotations."""
    aa = torch.from_numpy(np.ascontiguousarray(joint_angles_rad, np.float32))
    return matrix_to_sixd(axis_angle_to_matrix(aa)).reshape(aa.shape[:-2] + (POSE_DIMS,)).numpy()


def sixd_to_poses(x: np.ndarray) -> np.ndarray:
    """(..., POSE_DIMS) 6-D -> (..., J_body, 3) float32 local axis-angle."""
    from rigs.core.rotations import matrix_to_axis_angle

    R = sixd_to_matrix(torch.from_numpy(np.ascontiguousarray(x, np.float32)).reshape(x.shape[:-1] + (-1, SIXD)))
    return matrix_to_axis_angle(R.double().numpy()).astype(np.float32)


class PoseNorm(nn.Module):
    """Per-dimension mean and std of the 6-D poses (buffers: saved with the weights)."""

    def __init__(self, dims: int = POSE_DIMS):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("std", torch.ones(dims))

    def set(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.maximum(std, 1e-3), dtype=torch.float32))

    def forward(self, x):                                                      # (..., D) -> (..., D)
        return (x - self.mean) / self.std

    def inverse(self, x):
        return x * self.std + self.mean


# -- the VQ-VAE ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VQConfig:
    codebook_size: int = 128
    code_dim: int = 32
    hidden: int = 192
    beta: float = 0.25                 # commitment weight
    dead_after_steps: int = 50         # a code no batch picked for this many steps is re-seeded


def _mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                         nn.Linear(hidden, cout))


class PoseVQ(nn.Module):
    """Normalised 6-D pose (N, D) <-> code (N,) (module docstring)."""

    def __init__(self, config: VQConfig = VQConfig()):
        super().__init__()
        self.config = config
        self.norm = PoseNorm()
        self.encoder = _mlp(POSE_DIMS, config.hidden, config.code_dim)
        self.decoder = _mlp(config.code_dim, config.hidden, POSE_DIMS)
        self.codebook = nn.Parameter(torch.randn(config.codebook_size, config.code_dim) / math.sqrt(config.code_dim))
        self.register_buffer("idle_steps", torch.zeros(config.codebook_size))

    def quantize(self, z):                                                     # (N, C) -> codes (N,)
        d = (z.pow(2).sum(1, keepdim=True) - 2 * z @ self.codebook.t() + self.codebook.pow(2).sum(1)[None])
        return d.argmin(1)

    def encode(self, x):                                                       # (N, D) normalised -> (N,)
        return self.quantize(self.encoder(x))

    def decode(self, codes):                                                   # (N,) -> (N, D) normalised
        return self.decoder(self.codebook[codes])

    def loss(self, x, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """x (N, D) normalised poses -> (loss, parts); re-seeds dead codes while training."""
        z = self.encoder(x)
        codes = self.quantize(z)
        q = self.codebook[codes]
        zq = z + (q - z).detach()                                              # straight-through
        rec = self.decoder(zq)
        rec_loss = F.mse_loss(rec, x)
        vq_loss = F.mse_loss(q, z.detach()) + self.config.beta * F.mse_loss(z, q.detach())
        if self.training:
            with torch.no_grad():
                used = torch.zeros_like(self.idle_steps).index_fill_(0, codes.unique(), 1.0)
                self.idle_steps.mul_(1 - used).add_(1 - used)
                dead = (self.idle_steps > self.config.dead_after_steps).nonzero().flatten()
                if len(dead):
                    pick = torch.randint(0, len(z), (len(dead),), generator=generator)
                    self.codebook.data[dead] = z.detach()[pick]
                    self.idle_steps[dead] = 0
        usage = codes.unique().numel() / self.config.codebook_size
        total = rec_loss + vq_loss
        return total, {"loss": float(total.detach()), "rec": float(rec_loss.detach()), "usage": usage}

    @torch.no_grad()
    def error_deg(self, x) -> torch.Tensor:
        """(N, J) per-joint reconstruction error in degrees of normalised poses x (N, D)."""
        rec = self.decode(self.encode(x))
        R1 = sixd_to_matrix(self.norm.inverse(x).reshape(len(x), -1, SIXD))
        R2 = sixd_to_matrix(self.norm.inverse(rec).reshape(len(x), -1, SIXD))
        return geodesic_deg(R1, R2)
