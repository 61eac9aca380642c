"""Synthetic speech with exact phone timings: espeak-ng, Festival and Flite voices.

Each synthesiser reports the phones it generated and when, which is exact ground truth for the audio it
made (no aligner in between):

- **espeak-ng** through libespeak-ng (ctypes, synchronous mode): phoneme events with IPA names
  (``espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA``) carry the sample at which each phoneme
  starts (espeak-ng's ``speak_lib.h``: ``espeak_EVENT``, ``espeak_SetSynthCallback``); IPA is mapped to
  ARPAbet by :func:`rigs.core.phones.ipa_to_arpabet` (a multi-phone symbol's time is shared equally).
  English variants, rates and pitches vary per item. espeak-ng times stops and affricates from their
  release; the silent closure before is given back to them (:func:`stop_closures`), as aligners and
  lip motion (the lips close at the closure) count it.
- **Festival** (``festival -b`` on a small Scheme script): ``utt.save.segs`` writes each segment's end time;
  ``Duration_Stretch`` varies the rate. Voices kal_diphone, ked_diphone, cmu_us_slt_arctic_hts (whichever
  are installed).
- **Flite** (``flite -psdur``): each segment with its end time; ``duration_stretch`` and
  ``int_f0_target_mean`` vary rate and pitch. Voices kal16, awb, rms, slt.

Festival and Flite use the CMU "radio" phone set: ``pau`` is silence, ``ax``/``axr``/``ix``/``el``/``em``/
``en``/``dx``/``hv`` map to AH/ER/IH/L/M/N/T/HH (:data:`RADIO_TO_ARPABET`).

Splits (binding rule): by sentence, :data:`VAL_PERCENT` % of sentences are "val"; the voice
:data:`TEST_VOICE` is held out entirely ("test").
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.training.corpus.sources import SourceItem
from rigs.core.errors import ParleyError
from rigs.core.phones import SIL, Phone, ipa_to_arpabet, normalize_label

log = logging.getLogger(__name__)

VAL_PERCENT = 5
TEST_VOICE = "flite-rms"
CHARS_PER_S = 16.4                 # speaking rate (pauses included, measured over the voices) that plans the budget
SYNTH_TIMEOUT_S = 60
ESPEAK_RATE_WPM = (135, 205)
ESPEAK_PITCH = (25, 75)            # espeak-ng pitch 0..100
ESPEAK_RANGE = (30, 80)            # espeak-ng pitch range 0..100
STRETCH = (0.85, 1.2)              # Festival / Flite duration stretch
FLITE_F0_HZ = {"kal16": (85, 125), "awb": (90, 130), "rms": (80, 120), "slt": (150, 200)}
LICENCES = {"espeak-ng": "GPL-3.0-or-later (espeak-ng); generated speech",
            "festival": "Festival/Festvox voice licences (free use); generated speech",
            "flite": "Flite (BSD-style); generated speech"}
RADIO_TO_ARPABET = {"pau": SIL, "h#": SIL, "ssil": SIL, "ax": "AH", "axr": "ER", "ix": "IH", "el": "L",
                    "em": "M", "en": "N", "dx": "T", "hv": "HH"}

ESPEAK_VOICES = ("en-us", "en-us+f3", "en+m3", "en-gb-x-rp+f2", "en-gb-scotland+m1", "en-029+f4",
                 "en-gb-x-gbclan+m7", "en-gb-x-gbcwmd+f1", "en-us+klatt2", "en+steph")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
FLITE_VOICES = ("kal16", "awb", "rms", "slt")

# espeak-ng stop closures (stop_closures)
CLOSURE_PHONES = frozenset("P B T D K G CH JH".split())
CLOSURE_BLOCK_S = 0.0025           # energy blocks
CLOSURE_DB = 28.0                  # a closure block is this far below the loudest block
MIN_CLOSURE_S, MAX_CLOSURE_S = 0.01, 0.15
MIN_PHONE_S = 0.02

# libespeak-ng constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA = 0x0001, 0x0002
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_RATE, _PITCH, _RANGE = 1, 3, 4


class SynthError(ParleyError):
    """A synthesiser failed or gave timings that do not fit its audio."""


@dataclass(frozen=True)
class Voice:
    name: str        # corpus voice name, e.g. "espeak-ng:en-us+f3", "festival-kal_diphone", "flite-rms"
    engine: str      # espeak-ng | festival | flite
    id: str          # the synthesiser's own voice name


def all_voices() -> list[Voice]:
    return ([Voice(f"espeak-ng:{v}", "espeak-ng", v) for v in ESPEAK_VOICES]
            + [Voice(f"festival-{v}", "festival", v) for v in FESTIVAL_VOICES]
            + [Voice(f"flite-{v}", "flite", v) for v in FLITE_VOICES])


@functools.lru_cache(maxsize=1)
def _festival_installed() -> frozenset[str]:
    if shutil.which("festival") is None:
        return frozenset()
    found = set()
    for base in (Path("/usr/share/festival/voices"), Path("/usr/local/share/festival/voices")):
        if base.is_dir():
            found |= {p.name for p in base.glob("*/*") if p.is_dir()}
    return frozenset(found)


@functools.lru_cache(maxsize=1)
def _flite_installed() -> frozenset[str]:
    exe = shutil.which("flite")
    if exe is None:
        return frozenset()
    try:
        out = subprocess.run([exe, "-lv"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(out.split(":", 1)[-1].split())


def available_voices() -> list[Voice]:
    """The voices that can run here, in :func:`all_voices` order."""
    out = []
    for v in all_voices():
        if v.engine == "espeak-ng" and _espeak_lib() is not None:
            out.append(v)
        elif v.engine == "festival" and v.id in _festival_installed():
            out.append(v)
        elif v.engine == "flite" and v.id in _flite_installed():
            out.append(v)
    return out


# ----------------------------------------------------------------------------------------------
# planning


def synthetic_items(seconds: float, *, seed: int, voices: list[Voice] | None = None) -> list[SourceItem]:
    """Generated sentences, each with a voice and its settings, holding about ``seconds`` of speech.
    Item k is the same for a seed whatever the budget (the sentence generator is prefix-stable)."""
    from engine.training.corpus.build import derive_seed
    from engine.training.corpus.textgen import iter_sentences

    if seconds <= 0:
        return []
    voices = available_voices() if voices is None else voices
    if not voices:
        raise SynthError("no synthesiser found: install espeak-ng, festival or flite (see build.py), or use "
                         "--sources real")
    engines = sorted({v.engine for v in voices})
    items: list[SourceItem] = []
    total, n = 0.0, 0
    sentences = iter_sentences(seed=derive_seed(seed, "sentences"))
    while total < seconds:
        s = next(sentences)
        rng = np.random.default_rng(derive_seed(seed, "voice", n))
        engine = engines[int(rng.integers(len(engines)))]
        mine = [v for v in voices if v.engine == engine]
        voice = mine[int(rng.integers(len(mine)))]
        settings = _sample_settings(voice, rng)
        est = len(s.text) / CHARS_PER_S * settings.get("stretch", 1.0) * (170.0 / settings.get("rate_wpm", 170.0))
        if voice.name == TEST_VOICE:
            split = "test"
        else:
            split = "val" if derive_seed(seed, "split", n) % 100 < VAL_PERCENT else "train"
        items.append(SourceItem(id=f"synthetic/{n:06d}", source="synthetic", corpus=voice.engine, voice=voice.name,
                                text=s.text, split=split, seconds=round(est + 0.4, 3),
                                licence=LICENCES[voice.engine],
                                synth={"engine": voice.engine, "voice": voice.id, "kind": s.kind, **settings}))
        total += est
        n += 1
    return items


def _sample_settings(voice: Voice, rng: np.random.Generator) -> dict:
    if voice.engine == "espeak-ng":
        return {"rate_wpm": int(rng.integers(*ESPEAK_RATE_WPM)), "pitch": int(rng.integers(*ESPEAK_PITCH)),
                "range": int(rng.integers(*ESPEAK_RANGE))}
    stretch = round(float(rng.uniform(*STRETCH)), 3)
    if voice.engine == "flite":
        lo, hi = FLITE_F0_HZ.get(voice.id, (90, 140))
        return {"stretch": stretch, "f0_hz": int(rng.integers(lo, hi))}
    return {"stretch": stretch}


# ----------------------------------------------------------------------------------------------
# synthesis


def synthesize(item: SourceItem, *, sr: int = 16000):
    """(Audio at ``sr``, phones) of a synthetic item. Raises SkipItem-compatible SynthError."""
    from engine.audio.load import audio_from_array, load_audio

    cfg = item.synth
    engine = cfg["engine"]
    if engine == "espeak-ng":
        samples, rate, phones = espeak_synth(item.text, cfg["voice"], rate_wpm=cfg["rate_wpm"], pitch=cfg["pitch"],
                                             pitch_range=cfg["range"])
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(sr), int(rate))
        y = resample_poly(samples.astype(np.float64) / 32768.0, int(sr) // g, int(rate) // g).astype(np.float32)
        audio = audio_from_array(y, sr=sr, source_name=f"{item.id}.wav")
    else:
        with tempfile.TemporaryDirectory(prefix="parley-synth-") as tmp:
            wav = Path(tmp) / "out.wav"
            if engine == "festival":
                phones = festival_synth(item.text, cfg["voice"], wav, stretch=cfg["stretch"])
            elif engine == "flite":
                phones = flite_synth(item.text, cfg["voice"], wav, stretch=cfg["stretch"], f0_hz=cfg["f0_hz"])
            else:
                raise SynthError(f"unknown synthesiser {engine!r}")
            audio = load_audio(wav, sr=sr)
    return audio, fit_phones(phones, audio.duration_s)


def fit_phones(ends: list[tuple[float, str]], duration_s: float, *, max_apart_s: float = 2 / 30.0) -> list[Phone]:
    """Contiguous phones from (end_s, ARPAbet label) segments, fitted to ``duration_s``: trailing silence is
    cut or extended to the end of the audio; speech ending further than ``max_apart_s`` from it is an error."""
    phones: list[Phone] = []
    t = 0.0
    for end, lab in ends:
        end = float(end)
        if end <= t + 1e-6:
            continue
        if phones and phones[-1].label == lab == SIL:
            phones[-1] = Phone(phones[-1].start_s, end, SIL)
        else:
            phones.append(Phone(t, end, lab))
        t = end
    speech_end = max((p.end_s for p in phones if p.label != SIL), default=0.0)
    if not phones or speech_end == 0.0:
        raise SynthError("the synthesiser reported no phones")
    if speech_end > duration_s + max_apart_s:
        raise SynthError(f"phones run to {speech_end:.3f} s, the audio ends at {duration_s:.3f} s")
    out = [p for p in phones if p.start_s < duration_s - 1e-6]
    last = out[-1]
    if last.end_s > duration_s:
        out[-1] = Phone(last.start_s, duration_s, last.label)
    elif last.end_s < duration_s - 1e-6:
        out[-1:] = ([Phone(last.start_s, duration_s, SIL)] if last.label == SIL
                    else [last, Phone(last.end_s, duration_s, SIL)])
    return out


def radio_label(lab: str) -> str:
    """ARPAbet label of a Festival/Flite (CMU radio) segment name."""
    lab = lab.strip().lower()
    return RADIO_TO_ARPABET.get(lab) or normalize_label(lab.upper())


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_synth(text: str, voice: str, wav: Path, *, stretch: float = 1.0) -> list[tuple[float, str]]:
    """Synthesise with Festival into ``wav``; [(end_s, label)] from ``utt.save.segs``."""
    segs = wav.with_suffix(".segs")
    scm = wav.with_suffix(".scm")
    scm.write_text(f"(voice_{voice})\n(Parameter.set 'Duration_Stretch {float(stretch):.4f})\n"
                   f"(set! u (Utterance Text {_scheme_string(text)}))\n(utt.synth u)\n"
                   f"(utt.save.wave u {_scheme_string(str(wav))} 'riff)\n(utt.save.segs u {_scheme_string(str(segs))})\n")
    try:
        r = subprocess.run(["festival", "-b", str(scm)], capture_output=True, text=True, timeout=SYNTH_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SynthError(f"festival failed: {e}") from None
    if not segs.is_file() or not wav.is_file():
        raise SynthError(f"festival ({voice}) wrote no output: {(r.stderr or r.stdout).strip()[-200:]}")
    out = []
    for line in segs.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] != "#":
            out.append((float(parts[0]), radio_label(parts[2])))
    return out


_PSDUR = re.compile(r"([a-z#]+):([0-9.]+)")


def flite_synth(text: str, voice: str, wav: Path, *, stretch: float = 1.0, f0_hz: float = 110.0
                ) -> list[tuple[float, str]]:
    """Synthesise with Flite into ``wav``; [(end_s, label)] from ``-psdur``."""
    cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={float(stretch):.4f}", "--setf",
           f"int_f0_target_mean={float(f0_hz):.1f}", "-psdur", "-t", text, "-o", str(wav)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=SYNTH_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SynthError(f"flite failed: {e}") from None
    segs = _PSDUR.findall(r.stdout)
    if r.returncode != 0 or not segs or not wav.is_file():
        raise SynthError(f"flite ({voice}) failed: {(r.stderr or r.stdout).strip()[-200:]}")
    return [(float(t), radio_label(lab)) for lab, t in segs]


# ----------------------------------------------------------------------------------------------
# espeak-ng through libespeak-ng


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Espeak:
    """libespeak-ng initialised once per process in synchronous mode with IPA phoneme events."""

    def __init__(self, lib):
        self.lib = lib
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA)
        if self.rate <= 0:
            raise SynthError("libespeak-ng failed to initialise")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, str]] = []
        self._cb = _CALLBACK(self._on_audio)      # kept referenced: the library holds the pointer
        lib.espeak_SetSynthCallback(self._cb)

    def _on_audio(self, wav, n, events) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == _EVENT_PHONEME:
                self.events.append((int(e.sample), bytes(e.id).split(b"\0")[0].decode("utf-8", "replace")))
            i += 1
        return 0

    def synth(self, text: str, voice: str, *, rate_wpm: int, pitch: int, pitch_range: int):
        self.chunks, self.events = [], []
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SynthError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(_RATE, int(rate_wpm), 0)
        self.lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        self.lib.espeak_SetParameter(_RANGE, int(pitch_range), 0)
        b = text.encode("utf-8")
        if self.lib.espeak_Synth(b, len(b) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
            raise SynthError("espeak-ng failed to synthesise")
        self.lib.espeak_Synchronize()
        samples = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        return samples, list(self.events)


@functools.lru_cache(maxsize=1)
def _espeak_lib():
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def _espeak() -> _Espeak:
    lib = _espeak_lib()
    if lib is None:
        raise SynthError("libespeak-ng not found (install espeak-ng)")
    return _Espeak(lib)


def espeak_synth(text: str, voice: str, *, rate_wpm: int = 170, pitch: int = 50, pitch_range: int = 50):
    """(int16 samples, sample rate, [(end_s, label)]) from libespeak-ng: each phoneme event starts a phone
    (an empty name is a pause); a symbol mapping to several ARPAbet phones shares its time equally."""
    esp = _espeak()
    samples, events = esp.synth(text, voice, rate_wpm=rate_wpm, pitch=pitch, pitch_range=pitch_range)
    sr = float(esp.rate)
    n = samples.size
    starts = [(min(s, n) / sr, name) for s, name in events]
    segs: list[tuple[float, str]] = []
    if starts and starts[0][0] > 0:
        segs.append((starts[0][0], SIL))
    for k, (t, name) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n / sr
        labs = ipa_to_arpabet(name) if name.strip() else [SIL]
        if not labs:                      # a symbol with no English phone: part of the previous phone
            if segs:
                segs[-1] = (end, segs[-1][1])
            continue
        step = (end - t) / len(labs)
        segs += [(t + step * (j + 1), lab) for j, lab in enumerate(labs)]
    return samples, int(esp.rate), stop_closures(segs, samples, sr)


def stop_closures(segs: list[tuple[float, str]], samples: np.ndarray, sr: float) -> list[tuple[float, str]]:
    """espeak-ng times a stop or affricate from its release; its closure (near silence) ends the phone
    before. Each such phone is moved to start where the quiet run before it starts: blocks of
    :data:`CLOSURE_BLOCK_S` at least :data:`CLOSURE_DB` below the loudest block, at most
    :data:`MAX_CLOSURE_S`, keeping :data:`MIN_PHONE_S` of the previous phone (as an aligner times it)."""
    x = np.asarray(samples, np.float64)
    hop = max(1, int(round(CLOSURE_BLOCK_S * sr)))
    n = x.size // hop
    if n == 0:
        return list(segs)
    e = 10.0 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    quiet = e <= e.max() - CLOSURE_DB
    out = list(segs)
    for k in range(1, len(out)):
        if out[k][1] not in CLOSURE_PHONES:
            continue
        start = out[k - 1][0]
        prev_start = out[k - 2][0] if k >= 2 else 0.0
        limit = max(start - MAX_CLOSURE_S, prev_start + MIN_PHONE_S)
        b = min(int(start / CLOSURE_BLOCK_S), n)           # blocks before b lie before the release
        j = b
        while j > 0 and quiet[j - 1] and (j - 1) * CLOSURE_BLOCK_S >= limit:
            j -= 1
        if (b - j) * CLOSURE_BLOCK_S >= MIN_CLOSURE_S:
            out[k - 1] = (j * CLOSURE_BLOCK_S, out[k - 1][1])
    return out
