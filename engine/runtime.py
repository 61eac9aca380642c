"""Run an animator on audio files: check the outputs, load, animate one or more seeded takes, write them all
or none; read transcript files safely.

The CLI, the add-on's in-process path and (later) batch and streaming front ends call :func:`animate_file`.
Animators come from :data:`engine.animators.registry.ANIMATORS`; pass ``animator=`` to reuse one instance
(and its loaded weights) across many files. Outputs are checked before any work (not an input, a ``.npz``
name, writable, room on the disk: :func:`rigs.core.files.check_output`) and the takes are renamed into
place together (:func:`rigs.core.files.atomic_paths`): a failure or Ctrl-C keeps every old file.
"""
from __future__ import annotations

import codecs
import dataclasses
import os
import stat
import time
from pathlib import Path

from engine.animators.base import AnimateRequest, Animator, Progress
from engine.animators.listening import PARTNER_DIRECTION_RANGE_DEG
from engine.animators.registry import ANIMATORS, DEFAULT_MODE
from rigs.core.arkit import NUM_CHANNELS
from rigs.core.clip import save_clip
from rigs.core.emotions import parse_emotion
from rigs.core.errors import ConfigError, ParleyError
from rigs.core.files import atomic_paths, check_data_env, check_free_space, check_output
from rigs.core.timebase import num_frames

__all__ = ["ANIMATORS", "AnimateRequest", "ParleyError", "animate_file", "check_transcript", "create_animator",
           "parse_emotion", "read_transcript_file", "take_paths"]

MAX_SAMPLES = 100
FPS_RANGE = (1.0, 240.0)
ANIMATE_SHARE = 0.95     # of the progress bar; writing the takes fills the rest
CLIP_SUFFIXES = (".npz",)
# an upper estimate of a clip's size on disk per frame (float32 expression, root, <= 64 joints and <= 320 lip
# vertices of 3 values; the ICT lip set has 299): the free space asked of the output folder before the work
CLIP_BYTES_PER_FRAME = 4 * (NUM_CHANNELS + 3 + 3 * 64 + 3 * 320)
# transcripts: fast speech is about 20 characters a second (spaces included); twice that, plus room for
# headings and punctuation, is the most a recording can hold. A 2.2 MB transcript on 11 s of audio took 139 s
# and 6 GB in the aligner before these bounds.
MAX_TRANSCRIPT_BYTES = 512 * 1024          # about 7 hours of speech
TRANSCRIPT_CHARS_PER_S = 40.0
TRANSCRIPT_SLACK_CHARS = 200
TRANSCRIPT_READ_S = 10.0                   # deadline for reading a transcript file
_READ_BLOCK_BYTES = 64 * 1024
TEMPERATURE_RANGE = (0.0, 5.0)             # --temperature of a learned plan: (exclusive, inclusive)


def create_animator(mode: str = DEFAULT_MODE, request: AnimateRequest = AnimateRequest()) -> Animator:
    """A new animator for ``mode`` with the request's model, checkpoint and device."""
    return ANIMATORS.create(mode, model=request.model, checkpoint=request.checkpoint, device=request.device)


def take_paths(out_path: Path, samples: int) -> list[Path]:
    """Output files for ``samples`` takes: the path itself for one, ``stem_take01.npz``... for more."""
    out_path = Path(out_path)
    if samples == 1:
        return [out_path]
    return [out_path.with_name(f"{out_path.stem}_take{k + 1:02d}{out_path.suffix or '.npz'}") for k in range(samples)]


def animate_file(audio_path, out_path, *, mode: str = DEFAULT_MODE, request: AnimateRequest = AnimateRequest(),
                 samples: int = 1, progress: Progress | None = None, animator: Animator | None = None,
                 other_inputs=(), partner=None, channels: str | None = None) -> list[Path]:
    """Animate ``audio_path`` and write ``samples`` takes (seeds ``request.seed + k``).

    ``animator``: an instance to reuse (else one is created for ``mode``). ``progress(stage, fraction)`` sees
    ``load``, the animator's own stages for each take, ``write`` and ``done``; it may raise CancelledError.
    ``other_inputs``: files besides the audio that no output may overwrite (a transcript file).
    Dyadic input: ``partner`` is the conversation partner's recording, or ``channels`` (``"ME,PARTNER"``, e.g.
    ``"left,right"``) picks the character's and the partner's channels of ``audio_path``
    (:mod:`engine.audio.channels`); the character listens while the partner speaks
    (:mod:`engine.animators.listening`).
    Outputs are checked before the work (ConfigError/OutputError); nothing is written unless every take
    succeeds, and then all takes replace their files together. Returns the written paths.
    """
    from engine.audio.load import load_audio

    if samples < 1 or samples > MAX_SAMPLES:
        raise ConfigError(f"--samples must be between 1 and {MAX_SAMPLES}, got {samples}")
    if not (FPS_RANGE[0] <= request.fps <= FPS_RANGE[1]):
        raise ConfigError(f"--fps must be between {FPS_RANGE[0]:g} and {FPS_RANGE[1]:g}, got {request.fps!r}")
    if request.temperature is not None and not TEMPERATURE_RANGE[0] < request.temperature <= TEMPERATURE_RANGE[1]:
        raise ConfigError(f"--temperature must be above {TEMPERATURE_RANGE[0]:g} and at most {TEMPERATURE_RANGE[1]:g}, "
                          f"got {request.temperature!r}")
    if request.top_p is not None and not 0.0 < request.top_p <= 1.0:
        raise ConfigError(f"--top-p must be above 0 and at most 1, got {request.top_p!r}")
    lo, hi = PARTNER_DIRECTION_RANGE_DEG
    if not lo <= request.partner_direction_deg <= hi:
        raise ConfigError(f"--partner-direction must be between {lo:g} and {hi:g} degrees, "
                          f"got {request.partner_direction_deg!r}")
    check_data_env()
    if partner is not None and channels is not None:
        raise ConfigError("give the partner either as its own file (--partner) or as a channel (--channels), not both")
    report = progress or (lambda stage, frac: None)
    out_path = Path(out_path)
    paths = take_paths(out_path, samples)
    inputs = (audio_path, *other_inputs, *(() if partner is None else (partner,)))
    for p in paths:
        check_output(p, suffixes=CLIP_SUFFIXES, inputs=inputs)
    report("load", 0.0)
    if channels is not None:
        from engine.audio.channels import load_channels, parse_channels

        audio, partner_audio = load_channels(audio_path, parse_channels(channels))
        request = dataclasses.replace(request, partner=partner_audio)
    else:
        audio = load_audio(audio_path)
        if partner is not None:
            request = dataclasses.replace(request, partner=load_audio(partner))
    if request.transcript is not None:
        check_transcript(request.transcript, audio.duration_s)
    n = num_frames(audio.duration_s, request.fps)
    check_free_space(paths[0].parent, samples * n * CLIP_BYTES_PER_FRAME,
                     what=str(paths[0]) if samples == 1 else f"{samples} takes of {n} frames")
    animator = animator or create_animator(mode, request)
    clips = []
    for k in range(samples):
        def take_progress(stage: str, frac: float, k=k) -> None:
            report(stage, ANIMATE_SHARE * (k + min(1.0, max(0.0, float(frac)))) / samples)

        req = dataclasses.replace(request, seed=request.seed + k)
        clips.append(animator.animate(audio, req, progress=take_progress))
    report("write", ANIMATE_SHARE)
    with atomic_paths(paths) as tmps:
        for clip, tmp in zip(clips, tmps):
            save_clip(clip, tmp, atomic=False)
    report("done", 1.0)
    return paths


def check_transcript(text: str, duration_s: float) -> None:
    """Refuse a transcript far longer than ``duration_s`` of speech could hold (ConfigError): the aligner's
    time and memory grow with words x frames, and such a transcript is the wrong file or a whole script."""
    limit = int(TRANSCRIPT_SLACK_CHARS + TRANSCRIPT_CHARS_PER_S * float(duration_s))
    n = len(text.strip())
    if n > limit:
        raise ConfigError(f"the transcript has {n} characters for {duration_s:.1f} s of audio; at most {limit} "
                          f"(about {TRANSCRIPT_CHARS_PER_S:g} a second) can be spoken in it: give the words of this "
                          "recording only")


def read_transcript_file(path, *, max_bytes: int = MAX_TRANSCRIPT_BYTES, timeout_s: float = TRANSCRIPT_READ_S) -> str:
    """The text of a transcript file: UTF-8 (with or without a byte-order mark) or UTF-16 with one.

    Only regular files are read (a FIFO or device is refused rather than waited on), at most ``max_bytes``,
    within ``timeout_s``. Raises ConfigError with what is wrong and how to fix it."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"cannot read transcript file {name}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"transcript file {name} is a folder")
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"transcript file {name} is not a regular file (a FIFO, device or socket); "
                              "give a text file")
        if st.st_size > max_bytes:
            raise ConfigError(f"transcript file {name} is {st.st_size} bytes; at most {max_bytes} are read")
        data = _read_bounded(fd, name, max_bytes, timeout_s)
    finally:
        os.close(fd)
    return _decode_transcript(data, name)


def _read_bounded(fd: int, name: str, max_bytes: int, timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            b = os.read(fd, _READ_BLOCK_BYTES)
        except BlockingIOError:
            b = None
        except OSError as exc:
            raise ConfigError(f"cannot read transcript file {name}: {exc.strerror or exc}") from None
        if b == b"":
            return b"".join(chunks)
        if b:
            chunks.append(b)
            size += len(b)
            if size > max_bytes:
                raise ConfigError(f"transcript file {name} is over {max_bytes} bytes; at most {max_bytes} are read")
        if time.monotonic() > deadline:
            raise ConfigError(f"reading transcript file {name} took over {timeout_s:g} s; gave up")
        if b is None:
            time.sleep(0.01)


def _decode_transcript(data: bytes, name: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"transcript file {name} starts as UTF-16 but is not UTF-16 at byte {exc.start}; "
                              "save it as UTF-8") from None
    if b"\x00" in data:
        head = data[:256]
        if head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4:
            raise ConfigError(f"transcript file {name} looks like UTF-16 without a byte-order mark; "
                              "save it as UTF-8") from None
        raise ConfigError(f"transcript file {name} contains NUL bytes; is it a text file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"transcript file {name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); save it as UTF-8") from None
