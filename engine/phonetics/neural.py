"""Phone timing with Parley's own acoustic model (:class:`engine.learned.phone_net.PhoneNet`, numpy): per-frame
phone posteriors at 60 Hz, decoded by Viterbi search in two ways.

- **Forced alignment** (:func:`align_neural`): the transcript's words (CMUdict, else espeak-ng, through
  :mod:`.lexicon`; the first pronunciation of each word) become a left-to-right chain of phones, an optional
  silence before, between and after words; every phone lasts at least ``neural_min_frames`` frames. The path
  maximises the sum of scaled log-likelihoods, log P(phone | audio) - ``neural_prior_scale`` x log P(phone)
  (the hybrid recipe of Bourlard and Morgan's connectionist speech recognition).
- **Phone loop** (:func:`recognize_neural`, no transcript): any phone may follow any other with the phone
  bigram of the training labels (weight ``neural_lm_weight``) and a penalty per phone; the same minimum
  duration. The result goes through the same plausibility rules as every recognised phone sequence
  (:func:`.recognize.plausible`: TH/DH only with frication, consonants limited, vowel stress from duration).

A transcript that does not fit is detected by comparing the aligned path's acoustic score with the phone
loop's (the loop is free to pick the best phones, so a right transcript scores nearly as well and a wrong one
far worse): more than ``neural_max_mismatch`` per frame of speech below it, or most detected speech left in
silence, raises :class:`AlignmentMismatch`. Recordings longer than ``chunk_align_s`` are aligned by
PocketSphinx's chunked aligner (:mod:`.align`), which bounds memory by cutting at pauses.

Cost: the network is ~1 M multiply-adds per 60 Hz frame and the searches are vectorised over states, so a
minute of speech takes a fraction of a second on one core, with no decoder to start.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np

from engine.audio.load import Audio
from engine.learned.phone_net import PhoneNet, default_path
from engine.phonetics.config import DEFAULT_CONFIG, AlignmentMismatch, PhoneticsConfig
from engine.phonetics.lexicon import normalize_transcript, pronunciations, word_stress
from engine.phonetics.recognize import plausible
from engine.phonetics.sphinx import FRAME_S, finalize, pcm16k, speech_frames
from engine.phonetics.words import replace_span
from rigs.core.phones import LABELS, SIL, Phone, normalize_label

log = logging.getLogger(__name__)

SIL_INDEX = LABELS.index(SIL)
BILABIALS = [LABELS.index(p) for p in ("P", "B", "M")]
MEL_N_FFT = 512              # the corpus's log-mel settings (engine.training.corpus.windows)
MEL_FMIN_HZ = 40.0
ANALYSIS_CHUNK_S = 60.0      # long recordings are analysed this much at a time
NEG = -1e30
DEFAULT_MAX_MISMATCH = 2.0   # a phone model without a calibrated transcript-fit threshold gets this


@functools.lru_cache(maxsize=4)
def load_net(path: str | None = None) -> PhoneNet:
    """The phone model at ``path`` (default: ``$PARLEY_PHONE_NET`` or the shipped weights), loaded once."""
    return PhoneNet.load(path or default_path())


def log_posteriors(audio: Audio, net: PhoneNet) -> np.ndarray:
    """(T, K) log P(phone | audio) at ``net.config.output_fps`` for the whole recording. Long recordings are
    analysed a minute at a time (log-mel, its causal normalisation carried across, the network with its own
    context), so memory is a minute's working set plus the float32 features."""
    from engine.audio.spectral import chunked_log_mel
    from engine.learned.features import normalize_mel

    cfg = net.config
    y = pcm16k(audio).astype(np.float32) / np.float32(32767.0)
    n = max(cfg.stride, int(round(audio.duration_s * cfg.feature_fps)))
    n += (-n) % cfg.stride
    chunk = int(round(ANALYSIS_CHUNK_S * cfg.feature_fps))
    mel = chunked_log_mel(y, sr=16000, fps=cfg.feature_fps, n_mels=cfg.n_mels, n_fft=MEL_N_FFT, n_frames=n,
                          chunk_frames=chunk, fmin=MEL_FMIN_HZ)
    del y
    state = None
    for a in range(0, n, chunk):                       # normalised in place, the running mean carried over
        mel[a:a + chunk], state = normalize_mel(mel[a:a + chunk], mean=net.mel_mean, std=net.mel_std,
                                                feature_fps=cfg.feature_fps, tau_s=cfg.tau_s, state=state)
    return net.log_posteriors(mel)


def emission_scores(logpost: np.ndarray, net: PhoneNet, config: PhoneticsConfig) -> np.ndarray:
    """(T, K) scaled log-likelihoods: log posterior - prior_scale x log prior."""
    return (logpost - config.neural_prior_scale * net.log_prior[None, :]).astype(np.float64)


# ----------------------------------------------------------------------------------------------
# the phone loop


def phone_loop(emit: np.ndarray, log_bigram: np.ndarray, *, min_frames: int, lm_weight: float,
               insertion_penalty: float) -> tuple[list[tuple[int, int, int]], float]:
    """Best phone sequence through ``emit`` (T, K): [(class, start_frame, end_frame)], and its acoustic score
    (the sum of ``emit`` along the path). Each phone lasts at least ``min_frames`` (>= 1) frames; changing
    from phone a to b costs ``lm_weight`` x log_bigram[a, b] + ``insertion_penalty`` (negative: a penalty)."""
    T, K = emit.shape
    if T == 0:
        return [], 0.0
    D = max(1, int(min_frames))
    trans = lm_weight * np.where(np.isfinite(log_bigram), log_bigram, NEG) + insertion_penalty   # (K, K)
    delta = np.full((K, D), NEG)
    delta[:, 0] = emit[0]
    bp_entry = np.zeros((T, K), np.int16)        # the phone a segment starting at t came from
    stayed = np.zeros((T, K), bool)              # the last state at t came from itself (not from D-2)
    for t in range(1, T):
        entry = delta[:, D - 1][:, None] + trans                    # (K prev, K next)
        src = entry.argmax(0)
        new = np.empty_like(delta)
        new[:, 0] = entry[src, np.arange(K)]
        if D > 1:
            new[:, 1:D - 1] = delta[:, 0:D - 2]
            stay = delta[:, D - 1] >= delta[:, D - 2]
            new[:, D - 1] = np.where(stay, delta[:, D - 1], delta[:, D - 2])
        else:
            stay = delta[:, 0] >= new[:, 0]
            new[:, 0] = np.maximum(new[:, 0], delta[:, 0])
        stayed[t] = stay
        bp_entry[t] = src
        delta = new + emit[t][:, None]
    # backtrace from the best final state
    k, i = int(delta[:, D - 1].argmax()), D - 1
    segs: list[tuple[int, int, int]] = []
    end = T
    for t in range(T - 1, 0, -1):
        if i == D - 1 and stayed[t, k]:
            continue
        if i > 0:
            i -= 1
            continue
        segs.append((k, t, end))                 # this phone entered at frame t
        end = t
        k, i = int(bp_entry[t, k]), D - 1
    segs.append((k, 0, end))
    segs.reverse()
    score = float(sum(emit[a:b, c].sum() for c, a, b in segs))
    return segs, score


# ----------------------------------------------------------------------------------------------
# forced alignment


def chain(labels: list[int], optional: list[bool], *, min_frames: int) -> dict[str, np.ndarray]:
    """The left-to-right state graph of a phone chain: per state its class, whether it may repeat, and the
    state an arc may come from besides its left neighbour (skipping an optional phone; -1: none)."""
    D = max(1, int(min_frames))
    n = len(labels)
    first = np.arange(n) * D
    cls = np.repeat(np.asarray(labels, np.int64), D)
    loop = np.zeros(n * D, bool)
    loop[first + D - 1] = True
    skip = np.full(n * D, -1, np.int64)
    for p in range(2, n):
        if optional[p - 1]:
            skip[first[p]] = first[p - 2] + D - 1
    starts = [0] + ([D] if n > 1 and optional[0] else [])
    ends = [n * D - 1] + ([(n - 1) * D - 1] if n > 1 and optional[-1] else [])
    return {"cls": cls, "loop": loop, "skip": skip, "starts": np.array(starts), "ends": np.array(ends),
            "first": first, "D": np.array(D)}


def viterbi_chain(emit: np.ndarray, graph: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """(T,) state index per frame of the best path through ``graph`` (:func:`chain`), and its score; raises
    AlignmentMismatch when no path fits (more minimum-length phones than frames)."""
    T = len(emit)
    cls, loop, skip = graph["cls"], graph["loop"], graph["skip"]
    S = cls.size
    delta = np.full(S, NEG)
    delta[graph["starts"]] = emit[0, cls[graph["starts"]]]
    bp = np.zeros((T, S), np.int8)                               # 0 stay, 1 left neighbour, 2 skip
    has_skip = skip >= 0
    skip_src = np.where(has_skip, skip, 0)
    for t in range(1, T):
        stay = np.where(loop, delta, NEG)
        adv = np.concatenate([[NEG], delta[:-1]])
        sk = np.where(has_skip, delta[skip_src], NEG)
        best = np.maximum(stay, adv)
        choice = (adv > stay).astype(np.int8)
        better = sk > best
        choice[better] = 2
        best = np.where(better, sk, best)
        bp[t] = choice
        delta = best + emit[t, cls]
    ends = graph["ends"]
    s = int(ends[delta[ends].argmax()])
    score = float(delta[s])
    if score <= NEG / 2:
        raise AlignmentMismatch("the transcript has more phones than the recording has frames")
    path = np.empty(T, np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = s
        c = bp[t, s]
        s = s if c == 0 else (s - 1 if c == 1 else int(skip[s]))
    return path, score


def transcript_phones(words: list[str], prons) -> tuple[list[int], list[bool], list[int]]:
    """The phone chain of a transcript: class per phone, whether it is optional (the silences around and
    between words), and the index of the word it belongs to (-1: silence); each word's first pronunciation."""
    labels, optional, owner = [SIL_INDEX], [True], [-1]
    for wi, w in enumerate(words):
        for ph in prons[w][0][0]:
            labels.append(LABELS.index(normalize_label(ph)))
            optional.append(False)
            owner.append(wi)
        labels.append(SIL_INDEX)
        optional.append(True)
        owner.append(-1)
    return labels, optional, owner


def align_neural(audio: Audio, transcript: str, *, config: PhoneticsConfig = DEFAULT_CONFIG,
                 net: PhoneNet | None = None, logpost: np.ndarray | None = None,
                 progress: Callable[[float], None] | None = None) -> list[Phone]:
    """Forced alignment of ``transcript`` with the phone model (module docstring); ``logpost``: the model's
    :func:`log_posteriors` of ``audio`` if the caller has them. Raises AlignmentMismatch."""
    words = normalize_transcript(transcript)
    if not words:
        raise AlignmentMismatch("transcript has no words")
    net = net or load_net()
    logpost = log_posteriors(audio, net) if logpost is None else logpost
    if progress is not None:
        progress(0.5)
    emit = emission_scores(logpost, net, config)
    prons = pronunciations(words)
    labels, optional, owner = transcript_phones(words, prons)
    graph = chain(labels, optional, min_frames=config.neural_min_frames)
    path, score = viterbi_chain(emit, graph)
    _check_fit(path, score, emit, net, graph, audio, config)
    fps = net.config.output_fps
    D = int(graph["D"])
    phone_of = path // D
    bounds = np.flatnonzero(np.r_[True, phone_of[1:] != phone_of[:-1], True])
    phones: list[Phone] = []
    runs = [(int(phone_of[a]), int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    by_word: dict[int, list[tuple[int, int, int]]] = {}
    for p, a, b in runs:
        if owner[p] >= 0:
            by_word.setdefault(owner[p], []).append((p, a, b))
        else:
            phones.append(Phone(a / fps, b / fps, SIL))
    for wi, segs in by_word.items():
        labs = [LABELS[labels[p]] for p, _, _ in segs]
        stresses = word_stress(labs, [b - a for _, a, b in segs], prons[words[wi]])
        phones.extend(Phone(a / fps, b / fps, lab, st, words[wi].upper())
                      for (_, a, b), lab, st in zip(segs, labs, stresses))
    if progress is not None:
        progress(1.0)
    return finalize(phones, audio.duration_s, config.min_phone_s)


def fit_gap(score: float, emit, net: PhoneNet, audio: Audio, config: PhoneticsConfig) -> tuple[float, np.ndarray]:
    """How much worse an aligned path's ``score`` is than the free phone loop's, per frame of detected speech,
    and the (T,) speech mask at the model's frames."""
    speech = speech_frames(audio)                                       # 10 ms frames
    T = len(emit)
    idx = np.minimum((np.arange(T) / net.config.output_fps / FRAME_S).astype(np.int64), max(speech.size - 1, 0))
    sp = speech[idx] if speech.size else np.zeros(T, bool)
    _, loop_score = phone_loop(emit, net.log_bigram, min_frames=config.neural_min_frames, lm_weight=0.0,
                               insertion_penalty=0.0)
    return (loop_score - score) / max(int(sp.sum()), 1), sp


def _check_fit(path, score: float, emit, net: PhoneNet, graph, audio: Audio, config: PhoneticsConfig) -> None:
    """AlignmentMismatch when the aligned path is far worse than the free phone loop, per frame of speech,
    or leaves most of the detected speech in silence."""
    gap, sp = fit_gap(score, emit, net, audio, config)
    limit = config.neural_max_mismatch if config.neural_max_mismatch is not None else \
        float(net.info.get("max_mismatch", DEFAULT_MAX_MISMATCH))
    if sp.sum() >= 20 and gap > limit:
        raise AlignmentMismatch(f"the transcript fits the audio {gap:.2f} per frame worse than free phones")
    sil = graph["cls"][path] == SIL_INDEX
    if sp.sum() >= 20:
        frac = float((sp & sil).sum()) / float(sp.sum())
        if frac > config.max_speech_in_silence:
            raise AlignmentMismatch(f"{frac:.0%} of the detected speech falls outside the transcript's words")


# ----------------------------------------------------------------------------------------------
# recognition


def recognize_neural(audio: Audio, *, config: PhoneticsConfig = DEFAULT_CONFIG, net: PhoneNet | None = None,
                     logpost: np.ndarray | None = None, progress: Callable[[float], None] | None = None) -> list[Phone]:
    """Phones of ``audio`` without a transcript: the phone loop over the model's posteriors (``logpost`` if the
    caller has them), made plausible."""
    net = net or load_net()
    logpost = log_posteriors(audio, net) if logpost is None else logpost
    if progress is not None:
        progress(0.5)
    emit = emission_scores(logpost, net, config)
    emit[:, BILABIALS] += config.neural_bilabial_bonus
    segs, _ = phone_loop(emit, net.log_bigram, min_frames=config.neural_min_frames,
                         lm_weight=config.neural_lm_weight, insertion_penalty=config.neural_insertion_penalty)
    fps = net.config.output_fps
    raw = [Phone(a / fps, b / fps, LABELS[c]) for c, a, b in segs]
    if progress is not None:
        progress(1.0)
    return plausible(raw, pcm16k(audio), audio.duration_s, config)


# ----------------------------------------------------------------------------------------------
# bilabials the phone model hears in another recogniser's phones


def add_bilabials(phones: list[Phone], audio: Audio, *, threshold: float, config: PhoneticsConfig = DEFAULT_CONFIG,
                  net: PhoneNet | None = None, logpost: np.ndarray | None = None) -> list[Phone]:
    """``phones`` (contiguous, from any recogniser) with a P, B or M inserted wherever the phone model's
    bilabial probability stays above ``threshold`` for ``neural_min_frames`` frames and no bilabial of
    ``phones`` lies within 50 ms: a lip closure the other recogniser missed. The inserted phone replaces what
    it covers (its word, if any, is dropped for that stretch). ``logpost``: as for :func:`recognize_neural`."""
    net = net or load_net()
    post = np.exp(log_posteriors(audio, net) if logpost is None else logpost)
    p = post[:, BILABIALS].sum(1)
    fps = net.config.output_fps
    on = np.r_[False, p > threshold, False]
    starts, ends = np.flatnonzero(~on[:-1] & on[1:]), np.flatnonzero(on[:-1] & ~on[1:])
    have = [(q.start_s, q.end_s) for q in phones if q.label in ("P", "B", "M")]
    out = list(phones)
    for a, b in zip(starts, ends):
        if b - a < config.neural_min_frames:
            continue
        t0, t1 = a / fps, b / fps
        if any(s < t1 + 0.05 and e > t0 - 0.05 for s, e in have):
            continue
        label = LABELS[BILABIALS[int(post[a:b][:, BILABIALS].sum(0).argmax())]]
        out = replace_span(out, t0, t1, [Phone(t0, t1, label)])
    return finalize(out, audio.duration_s, config.min_phone_s)
