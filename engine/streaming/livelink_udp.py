"""Live Link Face frames over UDP: an encoder for streamed frames and a decoder (tests, tools).

The datagram layout the Live Link Face iOS app sends to Unreal (packet version 6), as read by the
community parsers of that stream (e.g. the PyLiveLinkFace and LLV projects); all multi-byte fields are
big-endian (network order)::

    uint8    packet version (6)
    int32    device id length N, then N bytes UTF-8 device id
    int32    subject name length M, then M bytes UTF-8 subject name
    int32    frame number          \\
    float32  sub-frame (0..1)       | the frame time (Unreal's FQualifiedFrameTime)
    int32    frame rate numerator   |
    int32    frame rate denominator/
    uint8    value count (61)
    61 x float32  the values in :data:`UDP_ORDER`, Unreal's ``EARFaceBlendShape`` enum: 52 blendshapes, then
             head yaw, pitch, roll and left/right eye yaw, pitch, roll in radians (the YXZ convention of
             :mod:`rigs.formats.livelink`)

The enum order is not the app's CSV column order (:data:`rigs.core.arkit.LIVELINK_COLUMNS`): the CSV writes
JawRight before JawLeft and MouthRight before MouthLeft, the enum (and so the datagram) the other way round.

Unreal's Live Link Face source listens on port 11111 by default.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from rigs.core.arkit import ARKIT_INDEX, NUM_CHANNELS, canonical_name
from rigs.core.errors import ConfigError
from rigs.core.rotations import euler_to_matrix, matrix_to_euler

PACKET_VERSION = 6
DEFAULT_PORT = 11111
MAX_NAME_BYTES = 256
# Unreal's EARFaceBlendShape order, the order of the values in a datagram
UDP_ORDER: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch",
    "RightEyeRoll")
NUM_VALUES = len(UDP_ORDER)             # 61
# canonical channel index of each of the first 52 datagram values
_COLUMN_CHANNEL = np.asarray([ARKIT_INDEX[canonical_name(c)] for c in UDP_ORDER[:NUM_CHANNELS]], np.int64)


@dataclass(frozen=True)
class LiveLinkPacket:
    """A decoded datagram: ``values`` (61,) float32 in :data:`UDP_ORDER`."""

    device_id: str
    subject: str
    frame: int
    sub_frame: float
    rate: tuple[int, int]
    values: np.ndarray

    def expression(self) -> np.ndarray:
        """(52,) ARKit weights in canonical order."""
        out = np.zeros(NUM_CHANNELS, np.float32)
        out[_COLUMN_CHANNEL] = self.values[:NUM_CHANNELS]
        return out


def yaw_pitch_roll(angles_rad: np.ndarray) -> np.ndarray:
    """(..., 3) yaw/pitch/roll (YXZ Euler, the Live Link convention of :mod:`rigs.formats.livelink`) of
    (..., 3) XYZ Euler pitch/yaw/roll rotations (:class:`engine.animators.base.FaceTrack`'s head and eyes)."""
    a = np.asarray(angles_rad, np.float64)
    return matrix_to_euler(euler_to_matrix(a.reshape(-1, 3)), "YXZ").reshape(a.shape)


def livelink_values(expression: np.ndarray, head_rad: np.ndarray, eyes_rad: np.ndarray) -> np.ndarray:
    """(61,) float32 datagram values of one frame, in :data:`UDP_ORDER`."""
    out = np.zeros(NUM_VALUES, np.float32)
    out[:NUM_CHANNELS] = np.asarray(expression, np.float32)[_COLUMN_CHANNEL]
    rot = yaw_pitch_roll(np.concatenate([np.asarray(head_rad).reshape(1, 3), np.asarray(eyes_rad).reshape(2, 3)]))
    out[NUM_CHANNELS:] = rot.reshape(-1)
    return out


def _name(s: str, what: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > MAX_NAME_BYTES:
        raise ConfigError(f"Live Link {what} is longer than {MAX_NAME_BYTES} bytes")
    return struct.pack("!i", len(b)) + b


def encode_packet(values: np.ndarray, *, frame: int, fps: float, device_id: str = "parley-stream",
                  subject: str = "Parley", sub_frame: float = 0.0) -> bytes:
    """One datagram (module docstring) for (61,) ``values`` at ``frame`` of a ``fps`` stream."""
    v = np.asarray(values, np.float32).reshape(-1)
    if v.size != NUM_VALUES:
        raise ConfigError(f"a Live Link frame has {NUM_VALUES} values, got {v.size}")
    rate = Fraction(float(fps)).limit_denominator(1001)
    return b"".join([struct.pack("!B", PACKET_VERSION), _name(device_id, "device id"), _name(subject, "subject name"),
                     struct.pack("!ifii", int(frame), float(sub_frame), rate.numerator, rate.denominator),
                     struct.pack("!B", NUM_VALUES), v.astype(">f4").tobytes()])


def decode_packet(data: bytes) -> LiveLinkPacket:
    """Parse a datagram (module docstring); raises ConfigError on a malformed one."""
    try:
        pos = 0
        (ver,) = struct.unpack_from("!B", data, pos)
        pos += 1
        names = []
        for _ in range(2):
            (n,) = struct.unpack_from("!i", data, pos)
            pos += 4
            if not 0 <= n <= MAX_NAME_BYTES or pos + n > len(data):
                raise ConfigError(f"Live Link packet: bad name length {n}")
            names.append(data[pos:pos + n].decode("utf-8"))
            pos += n
        frame, sub, num, den = struct.unpack_from("!ifii", data, pos)
        pos += 16
        (count,) = struct.unpack_from("!B", data, pos)
        pos += 1
        if len(data) != pos + 4 * count:
            raise ConfigError(f"Live Link packet: {len(data) - pos} bytes for {count} values")
        vals = np.frombuffer(data, ">f4", count, pos).astype(np.float32)
    except (struct.error, UnicodeDecodeError) as e:
        raise ConfigError(f"Live Link packet: malformed ({e})") from None
    if ver != PACKET_VERSION:
        raise ConfigError(f"Live Link packet version {ver}, expected {PACKET_VERSION}")
    return LiveLinkPacket(names[0], names[1], int(frame), float(sub), (int(num), int(den)), vals)


def parse_host_port(spec: str, *, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``) -> (host, port); raises ConfigError."""
    host, sep, port = spec.rpartition(":")
    if not sep:
        host, port = spec, str(default_port)
    try:
        p = int(port)
    except ValueError:
        raise ConfigError(f"--udp {spec!r}: the port must be a number") from None
    if not host or not 0 < p < 65536:
        raise ConfigError(f"--udp {spec!r}: expected HOST:PORT with a port in 1..65535")
    return host, p


class LiveLinkSender:
    """Sends frames as Live Link Face datagrams to ``(host, port)`` over UDP."""

    def __init__(self, host: str, port: int, *, fps: float, subject: str = "Parley", device_id: str = "parley-stream"):
        import socket
        self.addr, self.fps, self.subject, self.device_id = (host, int(port)), float(fps), subject, device_id
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, frame) -> None:
        """Send a :class:`engine.streaming.animator.StreamFrame`."""
        v = livelink_values(frame.expression, frame.head_rad, frame.eyes_rad)
        self.sock.sendto(encode_packet(v, frame=frame.index, fps=self.fps, device_id=self.device_id,
                                       subject=self.subject), self.addr)

    def close(self) -> None:
        self.sock.close()
