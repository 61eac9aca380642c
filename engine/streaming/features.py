"""Incremental audio front end of the streaming animator: a PCM ring buffer, a streaming resampler and
log-mel features computed chunk by chunk that equal the offline :func:`engine.audio.spectral.log_mel`.

Causal framing: feature row ``r`` is centred on sample ``round(r * sr / feature_fps)`` and reads
``[c - win // 2, c - win // 2 + win)``, zero outside the signal, exactly as the offline function; a row is
computed as soon as its last sample has arrived (``win / 2`` samples after its centre: 16 ms at 16 kHz with
the default 512-sample window), and the rows after the last full window are computed at :meth:`flush`
with the zero padding the offline function uses at the end. Rows are the offline ones bit for bit when the
same samples arrive (``tests/test_streaming.py`` checks random chunk sizes against one call).
"""
from __future__ import annotations

import numpy as np

from engine.audio.prosody import frame_signal
from rigs.core.errors import AudioError, ConfigError
from rigs.core.timebase import num_frames

MODEL_SR = 16000          # the rate the streaming front end works at (features, prosody)


class PcmBuffer:
    """Samples ``[start, end)`` of a stream (global sample indices) in one growing/shrinking float32 array."""

    def __init__(self) -> None:
        self.y = np.zeros(0, np.float32)
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + self.y.size

    def append(self, x: np.ndarray) -> None:
        if x.size:
            self.y = np.concatenate([self.y, np.asarray(x, np.float32)])

    def drop_before(self, index: int) -> None:
        """Forget samples before global ``index`` (kept when it lies beyond the end)."""
        k = min(max(0, int(index) - self.start), self.y.size)
        if k:
            self.y = self.y[k:].copy()
            self.start += k

    def windows(self, centres: np.ndarray, frame_length: int) -> np.ndarray:
        """(n, frame_length) windows centred on global ``centres``; zero outside [0, end) of the stream.

        Samples before ``start`` that are not zero-padding (index >= 0) must still be held."""
        centres = np.asarray(centres, np.int64)
        if centres.size and centres.min() - frame_length // 2 < self.start and self.start > 0:
            raise AudioError("streaming buffer: a window reaches samples already dropped (internal error)")
        if self.start == 0:
            return frame_signal(self.y, centers=centres, frame_length=frame_length)
        return frame_signal(self.y, centers=centres - self.start, frame_length=frame_length)


RESAMPLE_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")


class StreamResampler:
    """Any input rate -> ``out_sr`` over a stream (soxr's streaming resampler, the one
    :func:`engine.audio.load.iter_audio_chunks` uses); identity when the rates match.

    The filter holds samples back: measured with 10 ms chunks to 16 kHz, "HQ" (the default, as file loading)
    adds 21-23 ms at 44.1/48 kHz and 64 ms at 8 kHz, "LQ" 11-12 ms and 32 ms, "QQ" (cubic, no anti-alias
    filter) none. That delay comes on top of :attr:`StreamingAnimator.lookahead_s`."""

    def __init__(self, in_sr: int, out_sr: int = MODEL_SR, *, quality: str = "HQ"):
        if not (2000 <= int(in_sr) <= 768000):
            raise ConfigError(f"sample rate {in_sr!r} Hz is outside 2000..768000 Hz")
        self.in_sr, self.out_sr = int(in_sr), int(out_sr)
        if quality not in RESAMPLE_QUALITIES:
            raise ConfigError(f"resampling quality {quality!r}: choose from {', '.join(RESAMPLE_QUALITIES)}")
        self._s = None
        if self.in_sr != self.out_sr:
            import soxr
            self._s = soxr.ResampleStream(self.in_sr, self.out_sr, 1, dtype="float32", quality=quality)

    def __call__(self, x: np.ndarray, *, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if self._s is None:
            return x
        return np.ascontiguousarray(self._s.resample_chunk(x, last=last), np.float32)


class IncrementalLogMel:
    """Log-mel rows of a stream, computed as samples arrive; equal to :func:`engine.audio.spectral.log_mel`
    (same parameters) on the whole signal. Rows are kept until :meth:`trim` drops old ones."""

    def __init__(self, *, sr: int = MODEL_SR, feature_fps: float = 120.0, n_mels: int = 80, n_fft: int = 512,
                 win_length: int | None = None, fmin: float = 40.0, fmax: float | None = None,
                 floor: float = 1e-10, normalize=None, pad_value: float | None = None):
        import librosa
        self.sr, self.feature_fps, self.n_mels, self.n_fft = int(sr), float(feature_fps), int(n_mels), int(n_fft)
        self.win = self.n_fft if win_length is None else int(win_length)
        self.floor = float(floor)
        # optional causal normalisation of new rows: normalize(rows (n, n_mels), state) -> (rows, state)
        self.normalize, self.norm_state = normalize, None
        self.pad_value = float(np.log(self.floor) if pad_value is None else pad_value)
        self.hann = np.hanning(self.win + 2)[1:-1].astype(np.float32)
        self.fb_T = librosa.filters.mel(sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels, fmin=fmin, fmax=fmax).T
        self.step = self.sr / self.feature_fps
        self.rows = np.zeros((0, self.n_mels), np.float32)   # rows [rows_start, rows_start + len)
        self.rows_start = 0
        self.lookahead_samples = self.win - self.win // 2   # samples after a row's centre its window reads

    @property
    def n_rows(self) -> int:
        """Rows computed so far (global count)."""
        return self.rows_start + self.rows.shape[0]

    def centre(self, row: int | np.ndarray):
        return np.round(np.asarray(row) * self.step).astype(np.int64)

    def first_sample_needed(self, row: int) -> int:
        """The earliest global sample row ``row``'s window reads."""
        return int(self.centre(row)) - self.win // 2

    def update(self, pcm: PcmBuffer, *, final: bool = False) -> int:
        """Compute every row whose window is complete in ``pcm`` (at the end of the stream: every row of
        ``num_frames(duration, feature_fps)``); returns the number of new rows."""
        if final:
            last = num_frames(pcm.end / self.sr, self.feature_fps) - 1 if pcm.end else -1
        else:
            # row r is complete when centre(r) - win//2 + win <= end
            last = int(np.floor((pcm.end - self.lookahead_samples) / self.step))
            while last >= 0 and int(self.centre(last)) + self.lookahead_samples > pcm.end:
                last -= 1
            while int(self.centre(last + 1)) + self.lookahead_samples <= pcm.end:
                last += 1
        first = self.n_rows
        if last < first:
            return 0
        fr = pcm.windows(self.centre(np.arange(first, last + 1)), self.win) * self.hann
        spec = np.abs(np.fft.rfft(fr, self.n_fft, axis=1)) ** 2                  # (n, n_fft//2+1)
        new = np.log(np.maximum(spec @ self.fb_T, self.floor)).astype(np.float32)  # (n, n_mels)
        if self.normalize is not None:
            new, self.norm_state = self.normalize(new, self.norm_state)
            new = np.asarray(new, np.float32)
        self.rows = np.concatenate([self.rows, new]) if self.rows.size else new
        return new.shape[0]

    def window(self, lo: int, hi: int) -> np.ndarray:
        """(hi - lo, n_mels) rows ``[lo, hi)``; rows before 0 or after the computed ones read as silence
        (``pad_value``: the floor, or what the model's normalisation calls silence), rows already trimmed raise."""
        if max(lo, 0) < self.rows_start:
            raise AudioError("streaming features: rows already trimmed were asked for (internal error)")
        out = np.full((hi - lo, self.n_mels), self.pad_value, np.float32)
        a, b = max(lo, self.rows_start), min(hi, self.n_rows)
        if b > a:
            out[a - lo:b - lo] = self.rows[a - self.rows_start:b - self.rows_start]
        return out

    def trim(self, keep_from: int) -> None:
        """Forget rows before global row ``keep_from``."""
        k = min(max(0, keep_from - self.rows_start), self.rows.shape[0])
        if k:
            self.rows = self.rows[k:].copy()
            self.rows_start += k
