"""Augmentation of corpus audio so models transfer to real rooms and microphones; labels follow every time
change exactly.

A row's chain is sampled from its own seed (:func:`sample_chain`) and stored in the manifest. Only
``tempo`` changes time: the builder stretches the clean audio (:func:`time_stretch`, a phase vocoder that
keeps pitch), scales the phone times by the same factor, and the teacher labels the stretched audio, so audio
and labels stay on one clock (the phase vocoder maps time exactly; it places energy within about 15 ms of
where it belongs: within 20 ms on tone bursts over 30 s). Every other operation (:func:`apply_chain`) keeps the length and the timing of
the signal to the sample (filters run forwards and backwards, the reverb's direct path is at lag 0, codec
delay is measured and removed), so the labels made on the clean audio hold for it.

Operations: ``tempo`` (phase-vocoder stretch, pitch kept), ``pitch`` (semitones; resampled, stretched back
and the formants restored, so only the pitch moves), ``formant`` (vocal-tract-length perturbation: the
spectral envelope of each frame warped by alpha, pitch and timing kept; cf. N. Jaitly and G. Hinton,
"Vocal Tract Length Perturbation (VTLP) improves speech recognition", ICML 2013 workshop), ``eq``
(telephone band 300-3400 Hz, laptop microphone, low-pass), ``reverb`` (a synthetic room impulse response:
exponentially decaying noise with the chosen RT60 after a direct path, mixed at a direct-to-reverberant
ratio), ``noise`` (white, pink, brown or mains hum at an SNR against the speech's active level), ``codec``
(MP3, Ogg Vorbis or Opus round trip through ffmpeg) and ``level`` (gain in dB, peaks kept below full scale).
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from rigs.core.errors import ConfigError, ParleyError
from rigs.core.phones import Phone

TEMPO_RANGE = (0.85, 1.15)          # speed factor (> 1 faster)
PITCH_SEMITONES = (-3.0, 3.0)
FORMANT_ALPHA = (0.9, 1.1)
RT60_S = (0.2, 0.9)
DRR_DB = (-3.0, 10.0)
SNR_DB = (0.0, 5.0, 10.0, 20.0, 30.0)
NOISES = ("white", "pink", "brown", "hum")
EQS = ("telephone", "laptop", "lowpass")
CODECS = (("mp3", "libmp3lame", "32k"), ("mp3", "libmp3lame", "64k"), ("ogg", "libvorbis", "48k"),
          ("opus", "libopus", "16k"), ("opus", "libopus", "32k"))
LEVEL_DB = (-18.0, 6.0)
PEAK = 0.98                          # peaks are scaled below this after each step
# probability of each operation in a sampled chain (level is always applied last)
P_OP = {"tempo": 0.35, "pitch": 0.35, "formant": 0.35, "eq": 0.3, "reverb": 0.35, "noise": 0.5, "codec": 0.3}
PV_N_FFT, PV_HOP = 512, 64           # phase vocoder: a fine hop keeps events within ~20 ms of their place
ENV_N_FFT, ENV_HOP = 1024, 256        # formant warp analysis
ENVELOPE_LIFTER = 40                  # cepstral coefficients kept for the spectral envelope (16 kHz)
ENV_MAX_GAIN = 4.0                    # at most e^4 (35 dB) of envelope gain per bin
MAX_CODEC_LAG_S = 0.1                # codec delay searched within this
FFMPEG_TIMEOUT_S = 60


class AugmentError(ParleyError):
    """An augmentation step failed (ffmpeg missing or failing)."""


def sample_chain(rng: np.random.Generator) -> list[dict]:
    """A random chain of operations (at least one besides ``level``), in the order they are applied."""
    while True:
        chain: list[dict] = []
        if rng.random() < P_OP["tempo"]:
            chain.append({"op": "tempo", "rate": round(float(rng.uniform(*TEMPO_RANGE)), 3)})
        if rng.random() < P_OP["pitch"]:
            chain.append({"op": "pitch", "semitones": round(float(rng.uniform(*PITCH_SEMITONES)), 2)})
        if rng.random() < P_OP["formant"]:
            chain.append({"op": "formant", "alpha": round(float(rng.uniform(*FORMANT_ALPHA)), 3)})
        if rng.random() < P_OP["eq"]:
            chain.append({"op": "eq", "kind": str(rng.choice(EQS)), "cutoff_hz": int(rng.integers(3000, 6500))})
        if rng.random() < P_OP["reverb"]:
            chain.append({"op": "reverb", "rt60_s": round(float(rng.uniform(*RT60_S)), 2),
                          "drr_db": round(float(rng.uniform(*DRR_DB)), 1)})
        if rng.random() < P_OP["noise"]:
            chain.append({"op": "noise", "kind": str(rng.choice(NOISES)), "snr_db": float(rng.choice(SNR_DB))})
        if rng.random() < P_OP["codec"]:
            fmt, codec, rate = CODECS[int(rng.integers(len(CODECS)))]
            chain.append({"op": "codec", "format": fmt, "codec": codec, "bitrate": rate})
        if chain:
            chain.append({"op": "level", "gain_db": round(float(rng.uniform(*LEVEL_DB)), 1)})
            return chain


def tempo_of(chain: list[dict]) -> float:
    """The speed factor of a chain (1.0 without a tempo step)."""
    rates = [float(op["rate"]) for op in chain if op["op"] == "tempo"]
    return float(np.prod(rates)) if rates else 1.0


def time_stretch(samples: np.ndarray, phones, *, rate: float, sr: int) -> tuple[np.ndarray, list[Phone]]:
    """``samples`` played ``rate`` times faster with pitch kept, and ``phones`` on the new clock
    (times / rate); the output has round(N / rate) samples."""
    if not 0.25 <= rate <= 4.0:
        raise ConfigError(f"tempo rate must be in [0.25, 4], got {rate}")
    y = np.asarray(samples, np.float32)
    n = int(round(y.size / rate))
    out = _fit_length(_stretch(y, rate), n)
    dur = n / float(sr)
    scaled = [Phone(min(p.start_s / rate, dur), min(p.end_s / rate, dur), p.label, p.stress, p.word) for p in phones]
    if scaled:
        last = scaled[-1]
        scaled[-1] = Phone(last.start_s, dur, last.label, last.stress, last.word)
    return _peak_safe(out), [p for p in scaled if p.end_s > p.start_s]


def apply_chain(samples: np.ndarray, chain: list[dict], *, sr: int, seed: int) -> np.ndarray:
    """Every length-keeping step of ``chain`` (``tempo`` is the builder's, see the module docstring) applied in
    order; the output has exactly as many samples as the input."""
    rng = np.random.default_rng(seed)
    y = np.asarray(samples, np.float32).copy()
    n = y.size
    for op in chain:
        kind = op["op"]
        if kind == "tempo":
            continue
        y = _OPS[kind](y, op, sr=sr, rng=rng)
        if y.size != n:
            raise AugmentError(f"augmentation {kind} changed the length from {n} to {y.size} samples")
        y = _peak_safe(y)
    return y.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# operations: (N,) float32 -> (N,) float32


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, np.float32)
    if y.size >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.size, np.float32)])


def _peak_safe(y: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return (y * (PEAK / peak)).astype(np.float32) if peak > PEAK else y.astype(np.float32)


def _stretch(y: np.ndarray, rate: float) -> np.ndarray:
    """librosa's phase-vocoder time stretch on a fine hop (frame i of the output is input time i * rate * hop)."""
    import librosa

    return librosa.effects.time_stretch(np.asarray(y, np.float32), rate=rate, n_fft=PV_N_FFT, hop_length=PV_HOP)


def warp_envelope(y: np.ndarray, alpha: float) -> np.ndarray:
    """Formants moved by ``alpha`` with pitch and timing kept: per STFT frame, the spectral envelope
    (cepstrally smoothed log magnitude, :data:`ENVELOPE_LIFTER` coefficients) is resampled along frequency
    (E'(f) = E(f / alpha)) and the frame is multiplied by the zero-phase gain E' - E."""
    import librosa

    S = librosa.stft(np.asarray(y, np.float32), n_fft=ENV_N_FFT, hop_length=ENV_HOP)       # (F, frames)
    logmag = np.log(np.abs(S) + 1e-7)
    cep = np.fft.irfft(logmag, axis=0)                                                   # (n_fft, frames)
    cep[ENVELOPE_LIFTER:-ENVELOPE_LIFTER + 1] = 0.0
    env = np.fft.rfft(cep, axis=0).real[: S.shape[0]]                                    # (F, frames)
    k = np.arange(S.shape[0], dtype=np.float64)
    src = np.clip(k / float(alpha), 0, S.shape[0] - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, S.shape[0] - 1)
    w = (src - lo)[:, None]
    warped = env[lo] * (1 - w) + env[hi] * w
    gain = np.exp(np.clip(warped - env, -ENV_MAX_GAIN, ENV_MAX_GAIN))
    return librosa.istft(S * gain, hop_length=ENV_HOP, n_fft=ENV_N_FFT, length=y.size).astype(np.float32)


def _pitch(y, op, *, sr, rng):
    """Pitch by ``semitones`` with time and formants kept: resample (every frequency x p, duration / p),
    stretch back to the length, then move the formants back by 1 / p."""
    from scipy.signal import resample

    p = 2.0 ** (float(op["semitones"]) / 12.0)
    m = max(16, int(round(y.size / p)))
    faster = resample(y.astype(np.float64), m).astype(np.float32)
    return warp_envelope(_fit_length(_stretch(faster, m / y.size), y.size), 1.0 / p)


def _formant(y, op, *, sr, rng):
    """Vocal-tract-length perturbation: formants x alpha, pitch and timing kept (:func:`warp_envelope`)."""
    return warp_envelope(y, float(op["alpha"]))


def _eq(y, op, *, sr, rng):
    from scipy.signal import butter, sosfiltfilt

    nyq = 0.5 * sr
    kind = op["kind"]
    if kind == "telephone":
        sos = butter(4, [300.0 / nyq, min(3400.0, 0.95 * nyq) / nyq], btype="band", output="sos")
        return sosfiltfilt(sos, y).astype(np.float32)
    if kind == "laptop":       # small capsule: no lows, a presence bump, rolled-off top
        hp = butter(2, 250.0 / nyq, btype="high", output="sos")
        bump = butter(2, [1800.0 / nyq, 4500.0 / nyq], btype="band", output="sos")
        lp = butter(4, min(7000.0, 0.95 * nyq) / nyq, btype="low", output="sos")
        z = sosfiltfilt(hp, y)
        z = z + 0.8 * sosfiltfilt(bump, z)
        return sosfiltfilt(lp, z).astype(np.float32)
    if kind == "lowpass":
        sos = butter(6, min(float(op["cutoff_hz"]), 0.95 * nyq) / nyq, btype="low", output="sos")
        return sosfiltfilt(sos, y).astype(np.float32)
    raise ConfigError(f"unknown eq {kind!r}")


def room_impulse_response(rt60_s: float, drr_db: float, *, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a unit direct path at lag 0, then from 2.5 ms exponentially decaying
    Gaussian noise (60 dB down after ``rt60_s``) scaled to ``drr_db`` direct-to-reverberant energy."""
    n = int(rt60_s * sr)
    t = np.arange(n) / float(sr)
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)
    tail[: int(0.0025 * sr)] = 0.0
    tail *= np.sqrt(10.0 ** (-drr_db / 10.0) / max(np.sum(tail ** 2), 1e-12))
    h = tail
    h[0] = 1.0
    return h


def _reverb(y, op, *, sr, rng):
    from scipy.signal import fftconvolve

    h = room_impulse_response(float(op["rt60_s"]), float(op["drr_db"]), sr=sr, rng=rng)
    return fftconvolve(y.astype(np.float64), h)[: y.size].astype(np.float32)


def _noise_signal(kind: str, n: int, *, sr: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "hum":
        t = np.arange(n) / float(sr)
        f0 = float(rng.choice((50.0, 60.0)))
        x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
        return x + 0.05 * rng.standard_normal(n)
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    spec = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    f[0] = f[1] if n > 1 else 1.0
    spec /= np.sqrt(f) if kind == "pink" else f
    return np.fft.irfft(spec, n)


def active_rms(y: np.ndarray, *, sr: int, block_s: float = 0.02, floor_db: float = -40.0) -> float:
    """RMS over the blocks within ``floor_db`` of the loudest block (the speech, not the pauses)."""
    b = max(1, int(block_s * sr))
    k = y.size // b
    if k == 0:
        return float(np.sqrt(np.mean(y ** 2))) if y.size else 0.0
    e = np.mean(y[: k * b].reshape(k, b).astype(np.float64) ** 2, axis=1)
    keep = e >= e.max() * 10.0 ** (floor_db / 10.0)
    return float(np.sqrt(np.mean(e[keep]))) if np.any(keep) else 0.0


def _noise(y, op, *, sr, rng):
    noise = _noise_signal(op["kind"], y.size, sr=sr, rng=rng)
    s = active_rms(y, sr=sr)
    rms_n = float(np.sqrt(np.mean(noise ** 2))) or 1.0
    return (y + noise * (s / rms_n) * 10.0 ** (-float(op["snr_db"]) / 20.0)).astype(np.float32)


def codec_round_trip(y: np.ndarray, *, sr: int, fmt: str, codec: str, bitrate: str) -> np.ndarray:
    """``y`` encoded with ffmpeg (``codec`` at ``bitrate`` in a ``fmt`` file) and decoded back to ``sr``
    mono float32 (length not yet matched)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="parley-codec-") as tmp:
        src, enc = Path(tmp) / "in.wav", Path(tmp) / f"enc.{fmt}"
        sf.write(src, y, sr, subtype="FLOAT")
        dec = Path(tmp) / "out.f32"
        try:
            for cmd in (["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:a", codec, "-b:a", bitrate, str(enc)],
                        ["ffmpeg", "-v", "error", "-y", "-i", str(enc), "-ac", "1", "-ar", str(sr), "-f", "f32le",
                         str(dec)]):
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
                if r.returncode != 0:
                    raise AugmentError(f"ffmpeg {codec} round trip failed: {r.stderr.strip()[-200:]}")
        except (OSError, subprocess.TimeoutExpired) as e:
            raise AugmentError(f"ffmpeg {codec} round trip failed: {e}") from None
        return np.fromfile(dec, dtype="<f4").astype(np.float32)


def best_lag(ref: np.ndarray, y: np.ndarray, max_lag: int) -> int:
    """The delay (samples, >= -max_lag, <= max_lag) of ``y`` against ``ref`` by cross-correlation."""
    from scipy.signal import correlate

    n = min(ref.size, y.size)
    c = correlate(y[:n].astype(np.float64), ref[:n].astype(np.float64), mode="full", method="fft")
    mid = n - 1
    lo, hi = max(0, mid - max_lag), min(c.size, mid + max_lag + 1)
    return int(np.argmax(c[lo:hi]) + lo - mid)


def _codec(y, op, *, sr, rng):
    out = codec_round_trip(y, sr=sr, fmt=op["format"], codec=op["codec"], bitrate=op["bitrate"])
    lag = best_lag(y, out, int(MAX_CODEC_LAG_S * sr))
    if lag > 0:
        out = out[lag:]
    elif lag < 0:
        out = np.concatenate([np.zeros(-lag, np.float32), out])
    return _fit_length(out, y.size)


def _level(y, op, *, sr, rng):
    return (y * 10.0 ** (float(op["gain_db"]) / 20.0)).astype(np.float32)


_OPS = {"pitch": _pitch, "formant": _formant, "eq": _eq, "reverb": _reverb, "noise": _noise, "codec": _codec,
        "level": _level}
