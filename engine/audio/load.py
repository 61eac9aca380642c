"""Loading voice recordings: any common format, rate, depth and channel count -> mono float32 at ``sr``.

``load_audio`` reads with libsndfile (``soundfile``: wav, flac, ogg/vorbis, aiff, mp3 with libsndfile >=
1.1) and falls back to ``ffmpeg`` (subprocess, decoding to 32-bit float PCM) for anything else. The ffmpeg
fallback reads plain local files only: the name is passed as ``file:<absolute path>`` (so ``concat:...``,
``http:...`` or a leading ``-`` are just file names), only the file protocol is allowed, and only ordinary
audio/video container demuxers (:data:`FFMPEG_FORMATS`: no HLS or DASH playlists, no concat scripts, no
image sequences), so a file cannot make ffmpeg read another one.

Channels are mixed without cancellation, float sources above full scale are scaled down, and DC is
removed (:mod:`engine.audio.mixdown`); multichannel and float sources are read twice for that (a scan,
then the decode). Resampling uses the SoX resampler (``soxr``, "HQ" quality; Robinson, libsoxr), streamed
block by block so that a one-hour file never needs more than its 16 kHz float32 copy (~230 MB) plus one
block of the source. ``iter_audio_chunks`` exposes that streaming path for callers that want to process
long recordings chunk by chunk (``engine.audio.prosody.analyze_chunks``).

Every way the input can be unusable is reported as one :class:`~rigs.core.errors.AudioError` line:
missing, empty, unreadable, not audio, zero-length or too short, NaN/inf samples, absurd sample rate. A
WAV or AIFF file holding less than its header declares (a cut-off copy) is used with a warning. All-silent
audio is *not* an error (``Audio.is_silent``); the engine makes a neutral clip with a warning.

``normalize_loudness`` is a gated RMS normaliser in the spirit of EBU R128 / ITU-R BS.1770 (absolute
gate at -70 dBFS over 400 ms blocks, no K-weighting): good enough to make prosody features comparable
between recordings, not a broadcast loudness meter.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.audio.container import declared_frames
from engine.audio.mixdown import DcBlocker, average, plan_mix
from rigs.core.files import sha256_file
from rigs.core.errors import AudioError

log = logging.getLogger(__name__)

MIN_SR = 2000
MAX_SR = 768000
SILENCE_DBFS = -60.0
AMPLITUDE_FLOOR = 1e-10  # amplitudes below this read as -200 dBFS (keeps log10 finite)
MAX_CHANNELS = 256
_BLOCK_S = 20.0          # source seconds per streamed block
_MAX_PREALLOC_S = 4 * 3600.0  # a header's frame count preallocates at most this much (longer files still load)
_FFMPEG_TIMEOUT_S = 600
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
# demuxers the ffmpeg fallback may use: containers of one recording, none that opens other files or URLs
FFMPEG_FORMATS = ("wav", "w64", "aiff", "caf", "au", "mp3", "aac", "ac3", "eac3", "dts", "flac", "ogg", "mov",
                  "matroska", "asf", "avi", "amr", "ape", "wv", "tta", "mpc", "mpc8", "voc")


@dataclass(frozen=True)
class Audio:
    """A mono recording. ``samples`` (N,) float32 in [-1, 1] at ``sr`` Hz."""

    samples: np.ndarray
    sr: int
    duration_s: float
    source_name: str
    source_sha256: str
    original_sr: int
    channels: int

    @property
    def peak_dbfs(self) -> float:
        """Peak level in dBFS (-inf for digital silence)."""
        # max and -min instead of max(abs): no temporary copy of an hour-long signal
        peak = max(float(self.samples.max()), -float(self.samples.min())) if self.samples.size else 0.0
        return 20.0 * np.log10(peak) if peak > 0 else float("-inf")

    def is_silent(self, *, threshold_dbfs: float = SILENCE_DBFS) -> bool:
        """True when no sample exceeds ``threshold_dbfs`` (default -60 dBFS): nothing to animate."""
        return self.peak_dbfs < threshold_dbfs


def amplitude_dbfs(x: np.ndarray) -> np.ndarray:
    """(...) float64 level in dBFS of linear amplitudes ``x`` (e.g. frame RMS), floored at -200 dBFS."""
    return 20.0 * np.log10(np.maximum(np.asarray(x, np.float64), AMPLITUDE_FLOOR))


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioError(f"audio file not found: {p}")
    if not p.is_file():
        raise AudioError(f"not a file: {p}")
    try:
        size = p.stat().st_size
        with open(p, "rb"):
            pass
    except OSError as e:
        raise AudioError(f"cannot read audio file {p}: {e.strerror or e}") from None
    if size == 0:
        raise AudioError(f"audio file is empty (0 bytes): {p}")
    return p


def _check_rate(sr: int, p: Path) -> None:
    if not (MIN_SR <= sr <= MAX_SR):
        raise AudioError(f"{p.name}: sample rate {sr} Hz is outside the usable range "
                         f"{MIN_SR}..{MAX_SR} Hz")


def _check_finite(x: np.ndarray, p: Path) -> None:
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{p.name}: audio contains NaN or infinite samples")


@dataclass(frozen=True)
class _Source:
    """An opened recording: native rate, channels, frames (libsndfile's count, clamped to the data present,
    or None), frames its header declares (WAV/AIFF, or None), whether samples can exceed full scale, and
    ``blocks(block_frames)``, a fresh iterator of (n, channels) float32 blocks at the native rate."""

    path: Path
    sr: int
    channels: int
    frames: int | None
    declared_frames: int | None
    is_float: bool
    blocks: Callable[[int], Iterator[np.ndarray]]


def _open_soundfile(p: Path):
    """soundfile.SoundFile or None if libsndfile cannot read the format (then ffmpeg is tried)."""
    import soundfile as sf
    try:
        return sf.SoundFile(os.path.abspath(p))  # absolute: libsndfile reads stdin for a file named "-"
    except sf.SoundFileError:  # LibsndfileError "Format not recognised", a broken header...
        return None


def _ffmpeg_input(p: Path) -> list[str]:
    """ffmpeg/ffprobe input options for a plain local file and nothing else (see the module docstring)."""
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(FFMPEG_FORMATS),
            "-i", "file:" + os.path.abspath(p)]


def _ffprobe(p: Path) -> tuple[int, int]:
    """(sample_rate, channels) of the first audio stream via ffprobe; AudioError when there is none."""
    exe = shutil.which("ffprobe")
    if exe is None:
        raise AudioError(f"{p.name}: not a format libsndfile can read, and ffprobe/ffmpeg is not installed")
    try:
        r = subprocess.run([exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=sample_rate,channels", "-of", "json", *_ffmpeg_input(p)],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
        streams = json.loads(r.stdout.decode("utf-8", "replace") or "{}").get("streams", [])
    except (subprocess.TimeoutExpired, ValueError, OSError, AttributeError):
        streams = []
    if not streams or r.returncode != 0:
        raise AudioError(f"{p.name}: not an audio file (no decodable audio stream)")
    s = streams[0]
    try:
        sr, ch = int(s["sample_rate"]), int(s["channels"])
    except (KeyError, ValueError, TypeError):
        raise AudioError(f"{p.name}: not an audio file (no sample rate)") from None
    if not 1 <= ch <= MAX_CHANNELS:
        raise AudioError(f"{p.name}: audio stream has {ch} channels (1..{MAX_CHANNELS} expected)")
    return sr, ch


def _ffmpeg_blocks(p: Path, channels: int, block_frames: int) -> Iterator[np.ndarray]:
    """(n, channels) float32 blocks decoded by ffmpeg at the native rate."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioError(f"{p.name}: ffmpeg is not installed, cannot decode this format")
    proc = subprocess.Popen([exe, "-v", "error", "-nostdin", *_ffmpeg_input(p), "-map", "0:a:0",
                             "-f", "f32le", "-acodec", "pcm_f32le", "-"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    frame_bytes = 4 * channels
    try:
        rest = b""
        while True:
            buf = proc.stdout.read(block_frames * frame_bytes)
            if not buf:
                break
            buf = rest + buf
            n = len(buf) // frame_bytes
            rest = buf[n * frame_bytes:]
            if n:
                yield np.frombuffer(buf[:n * frame_bytes], dtype="<f4").reshape(n, channels)
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        if proc.wait(timeout=_FFMPEG_TIMEOUT_S) != 0:
            line = err.splitlines()[-1] if err else f"exit code {proc.returncode}"
            raise AudioError(f"{p.name}: ffmpeg could not decode it: {line}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _soundfile_blocks(p: Path, block_frames: int) -> Iterator[np.ndarray]:
    import soundfile as sf
    f = _open_soundfile(p)
    if f is None:
        raise AudioError(f"{p.name}: the file changed while it was read")
    with f:
        try:
            while True:
                b = f.read(block_frames, dtype="float32", always_2d=True)
                if len(b) == 0:
                    break
                yield b
        except sf.SoundFileError as e:   # LibsndfileError: e.g. "flac decoder lost sync"
            raise AudioError(f"{p.name}: unreadable audio data ({e})") from None


def _source(p: Path) -> _Source:
    f = _open_soundfile(p)
    if f is not None:
        with f:
            sr, ch, frames, subtype = int(f.samplerate), int(f.channels), int(f.frames), str(f.subtype)
        _check_rate(sr, p)
        if not 1 <= ch <= MAX_CHANNELS:
            raise AudioError(f"{p.name}: {ch} channels (1..{MAX_CHANNELS} expected)")
        return _Source(p, sr, ch, frames if frames > 0 else None, declared_frames(p),
                       is_float=subtype in _FLOAT_SUBTYPES, blocks=lambda n: _soundfile_blocks(p, n))
    sr, ch = _ffprobe(p)
    _check_rate(sr, p)
    return _Source(p, sr, ch, None, None, is_float=True, blocks=lambda n: _ffmpeg_blocks(p, ch, n))


def _open(path, sr: int) -> _Source:
    if not (MIN_SR <= int(sr) <= MAX_SR):
        raise AudioError(f"requested sample rate {sr} Hz is outside {MIN_SR}..{MAX_SR} Hz")
    return _source(_check_path(path))


def _mono_resampled(src: _Source, sr: int, block_s: float) -> Iterator[np.ndarray]:
    """Mono float32 chunks at ``sr``: mixed (:func:`plan_mix`), resampled, DC removed, clipped to [-1, 1]."""
    import soxr
    p, block = src.path, max(1, int(block_s * src.sr))
    if src.channels > 1 or src.is_float:
        plan = plan_mix(_checked(src.blocks(block), p), src.channels, is_float=src.is_float, name=p.name)
    else:
        plan = average(1)
    stream = None if src.sr == sr else soxr.ResampleStream(src.sr, sr, 1, dtype="float32", quality="HQ")
    dc = DcBlocker(sr)
    n_src = n_out = 0
    for b in _checked(src.blocks(block), p):
        n_src += len(b)
        mono = plan.apply(b)
        y = mono if stream is None else stream.resample_chunk(mono, last=False)
        if y.size:
            n_out += y.size
            yield np.clip(dc(y), -1.0, 1.0)
    if stream is not None:
        y = stream.resample_chunk(np.zeros(0, np.float32), last=True)
        if y.size:
            n_out += y.size
            yield np.clip(dc(np.ascontiguousarray(y, dtype=np.float32)), -1.0, 1.0)
    if n_src == 0:
        raise AudioError(f"{p.name}: audio has zero length (no samples)")
    if n_out == 0:
        raise AudioError(f"{p.name}: audio is too short: {n_src} sample{'s' * (n_src > 1)} at {src.sr} Hz "
                         f"({1e3 * n_src / src.sr:.3g} ms) is less than one sample at {sr} Hz")
    if src.declared_frames and n_src < src.declared_frames:
        log.warning("%s: the file is truncated: its header declares %.2f s of audio but it holds %.2f s; "
                    "using the %.2f s present", p.name, src.declared_frames / src.sr, n_src / src.sr,
                    n_src / src.sr)


def _checked(blocks: Iterator[np.ndarray], p: Path) -> Iterator[np.ndarray]:
    for b in blocks:
        _check_finite(b, p)
        yield b


def iter_audio_chunks(path: str | Path, *, sr: int = 16000, chunk_s: float = _BLOCK_S) -> Iterator[np.ndarray]:
    """Stream a file as mono float32 chunks at ``sr`` Hz (each about ``chunk_s`` seconds, (n,) arrays).

    Concatenating the chunks gives the same signal as :func:`load_audio` (the mix is planned over the whole
    file, and the resampler and DC filter keep their state across chunks). Raises :class:`AudioError` like
    :func:`load_audio` (possibly only once iteration reaches a bad block, e.g. NaN samples).
    """
    src = _open(path, sr)
    yield from _mono_resampled(src, int(sr), chunk_s)


def _collect(chunks: Iterator[np.ndarray], expected: int | None) -> np.ndarray:
    """Concatenate chunks; with a size estimate, straight into one preallocated array (no second copy of
    the whole signal: an hour at 16 kHz peaks at ~230 MB instead of ~460 MB)."""
    if expected is None:
        parts = list(chunks)
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)
    buf = np.empty(expected, np.float32)
    n = 0
    extra: list[np.ndarray] = []
    for y in chunks:
        if extra or n + y.size > buf.size:   # the estimate was short: finish by concatenation
            extra.append(y)
            continue
        buf[n:n + y.size] = y
        n += y.size
    if extra:
        return np.concatenate([buf[:n], *extra])
    return buf[:n].copy() if n < buf.size // 2 else buf[:n]


def load_audio(path: str | Path, *, sr: int = 16000) -> Audio:
    """Read ``path`` (wav/flac/ogg/aiff/mp3/... any rate, depth, channels) as mono float32 at ``sr`` Hz.

    Returns an :class:`Audio` with ``samples`` (N,) in [-1, 1], N = round(duration * sr).
    Raises :class:`AudioError` (one clear line) for missing, empty, unreadable or non-audio files,
    zero-length audio, NaN/inf samples and sample rates outside 2 kHz..768 kHz.
    """
    src = _open(path, sr)
    p = src.path
    expected = None if src.frames is None else min(int(np.ceil(src.frames * int(sr) / src.sr)) + 64,
                                                   int(_MAX_PREALLOC_S * sr))
    samples = _collect(_mono_resampled(src, int(sr), _BLOCK_S), expected)
    audio = Audio(samples=samples, sr=int(sr), duration_s=samples.size / float(sr), source_name=p.name,
                  source_sha256=sha256_file(p), original_sr=src.sr, channels=src.channels)
    if audio.is_silent():
        log.warning("%s: audio is silent (peak %.1f dBFS)", p.name, audio.peak_dbfs)
    return audio


def audio_from_array(samples: np.ndarray, *, sr: int, source_name: str = "<array>") -> Audio:
    """Wrap an in-memory (N,) or (N, C) float array at ``sr`` Hz as an :class:`Audio` (no resampling).

    Applies the same checks as :func:`load_audio` (finite, non-empty, sane rate); sha256 is of the
    float32 sample bytes.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        ch = x.shape[1]
        x = x.mean(axis=1, dtype=np.float32)
    elif x.ndim == 1:
        ch = 1
    else:
        raise AudioError(f"{source_name}: samples must be (N,) or (N, C), got shape {x.shape}")
    if not (MIN_SR <= int(sr) <= MAX_SR):
        raise AudioError(f"{source_name}: sample rate {sr} Hz is outside {MIN_SR}..{MAX_SR} Hz")
    if x.size == 0:
        raise AudioError(f"{source_name}: audio has zero length (no samples)")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{source_name}: audio contains NaN or infinite samples")
    x = np.clip(x, -1.0, 1.0)
    return Audio(samples=x, sr=int(sr), duration_s=x.size / float(sr), source_name=source_name,
                 source_sha256=hashlib.sha256(x.tobytes()).hexdigest(), original_sr=int(sr), channels=ch)


def gated_rms_dbfs(samples: np.ndarray, *, sr: int, block_s: float = 0.4, gate_dbfs: float = -70.0) -> float:
    """RMS level (dBFS) of ``samples`` (N,) over 400 ms blocks louder than ``gate_dbfs``; -inf if none."""
    x = np.asarray(samples, dtype=np.float64)
    n = max(1, int(block_s * sr))
    nb = max(1, x.size // n)
    blocks = x[: nb * n].reshape(nb, -1) if x.size >= n else x[None, :]
    ms = np.mean(blocks ** 2, axis=1)
    db = 10.0 * np.log10(np.maximum(ms, 1e-20))
    keep = ms[db > gate_dbfs]
    return float(10.0 * np.log10(keep.mean())) if keep.size else float("-inf")


def normalize_loudness(samples: np.ndarray, *, sr: int, target_dbfs: float = -23.0,
                       max_gain_db: float = 40.0) -> np.ndarray:
    """Scale (N,) ``samples`` so their gated RMS is ``target_dbfs``; peaks are limited to 0.99.

    Silence (nothing above the -70 dBFS gate) is returned unchanged. Gain is capped at ``max_gain_db``.
    Returns a new float32 array of the same shape.
    """
    x = np.asarray(samples, dtype=np.float32)
    level = gated_rms_dbfs(x, sr=sr)
    if not np.isfinite(level):
        return x.copy()
    gain = 10.0 ** (min(target_dbfs - level, max_gain_db) / 20.0)
    y = x * np.float32(gain)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y *= np.float32(0.99 / peak)
    return y
