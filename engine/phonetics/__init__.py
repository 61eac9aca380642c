"""Phone timing of a recording: forced alignment to a transcript, or recognition without one (words first,
then their phones; the phone loop where the words are unsure).

All use CMU PocketSphinx 5 (D. Huggins-Daines et al., "PocketSphinx: a free, real-time continuous
speech recognition system for hand-held devices", ICASSP 2006) with the en-us acoustic model, the
CMU Pronouncing Dictionary and the en-us phonetic language model that the PyPI package ships.

Stages (each module depends only on those above it):

- ``config``: :class:`PhoneticsConfig` and :class:`AlignmentMismatch`.
- ``sphinx``: the 16 kHz / 10 ms frame grid (``SAMPLE_RATE_HZ``, ``FRAME_S``, ``FRAME_SAMPLES``),
  decoders, 16 kHz int16 PCM, decoding under a wall-clock deadline, cutting long audio at quiet points,
  alignment sanity checks, and finalisation (sorted, contiguous phones, tiny ones merged).
- ``lexicon``: transcript normalisation (numbers spelled out), CMUdict lookup, espeak-ng
  letter-to-sound (:func:`g2p`) for the words CMUdict lacks, and word stress.
- ``plausibility``: rules for recognised phones: TH/DH only where a frame fricates, consonants cut to
  ``max_consonant_s``.
- ``recognize``: the phone loop ("allphone" phoneme recognition with the phonetic trigram LM) in segments
  of at most ``segment_s``; recognised phones finalised (tiny ones merged), made plausible, vowel stress
  from duration.
- ``words``: recognition through words: the en-us n-gram LM and CMUdict, the hypothesis aligned to phones
  by the phone-level second pass, unsure words (low lattice posterior) and unsure segments re-decoded
  by the phone loop.
- ``align``: word-level alignment then PocketSphinx's phone-level second pass; long recordings
  (> ``chunk_align_s``) in chunks cut in pauses. An implausible result (acoustic score per frame far
  below normal, most detected speech left in silence, phones squeezed to the minimum HMM length)
  raises :class:`AlignmentMismatch`.
- ``timing``: :func:`phone_timing`, the policy: align when there is a transcript, recognise (with a
  logged warning) when there is none or it does not fit, through words or the phone loop alone
  (``PhoneticsConfig.recognizer``).

Work is bounded: one decoding pass is at most ``segment_s`` (recognition) or ``chunk_align_s``
(alignment) of audio (PocketSphinx is linear in frames), and a wall-clock deadline is checked between
passes; exceeding it raises PhoneticsError (no hangs).
Stress: vowels of dictionary words get 1 for the longest vowel of the word, 0 for the others;
espeak pronunciations keep espeak's stress marks; recognised vowels get 1 when long; consonants and
SIL have ``None``. Recognised words keep their spelling in ``Phone.word``; phone-loop phones have none.
"""
from engine.phonetics.align import align
from engine.phonetics.config import AlignmentMismatch, PhoneticsConfig
from engine.phonetics.lexicon import g2p, normalize_transcript, pronunciations
from engine.phonetics.recognize import recognize
from engine.phonetics.sphinx import FRAME_S, SAMPLE_RATE_HZ
from engine.phonetics.timing import phone_timing
from engine.phonetics.words import recognize_words
from rigs.core.phones import Phone

__all__ = ["FRAME_S", "SAMPLE_RATE_HZ", "AlignmentMismatch", "Phone", "PhoneticsConfig", "align", "g2p",
           "normalize_transcript", "phone_timing", "pronunciations", "recognize", "recognize_words"]
