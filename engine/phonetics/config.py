"""Settings and the one error of phone timing: :class:`PhoneticsConfig` and :class:`AlignmentMismatch`.

They sit below every stage of the package (``sphinx``, ``align``, ``recognize``, ``timing``) so that
each stage can take the config and raise the error without importing the policy that uses them.
"""
from __future__ import annotations

from dataclasses import dataclass

from rigs.core.errors import ConfigError, PhoneticsError

RECOGNIZERS = ("words", "phones")        # PhoneticsConfig.recognizer (PocketSphinx's two searches)
ACOUSTIC_MODELS = ("auto", "neural", "sphinx")   # PhoneticsConfig.acoustic


@dataclass(frozen=True)
class PhoneticsConfig:
    """Parameters of :func:`engine.phonetics.phone_timing`."""

    min_phone_s: float = 0.03
    acoustic: str = "auto"                   # "neural": Parley's phone model (engine.phonetics.neural) for all;
                                             # "sphinx": PocketSphinx alone; "auto": the model aligns and adds
                                             # bilabials to PocketSphinx's words (see engine.phonetics.timing)
    phone_model_path: str | None = None      # the phone model's weights (None: $PARLEY_PHONE_NET or the shipped)
    neural_min_frames: int = 3               # phone model: shortest phone, in its 60 Hz frames (50 ms)
    neural_prior_scale: float = 0.5          # emission = log posterior - this x log prior
    neural_lm_weight: float = 1.0            # phone loop: weight of the phone bigram ...
    neural_insertion_penalty: float = -2.0   # ... and the score of starting a phone
    neural_bilabial_boost: float | None = 0.35  # recognition through PocketSphinx's words with the phone model
                                             # present: insert the bilabials it hears with at least this
                                             # probability (None: off)
    neural_bilabial_bonus: float = 0.0       # phone loop: added to the P/B/M scores (a missed lip closure is the
                                             # costliest error of a talking face)
    neural_max_mismatch: float | None = None  # alignment worse than free phones by more than this per speech
                                              # frame: the transcript does not fit (None: the value calibrated
                                              # for the phone model, in its weights file)
    recognizer: str = "words"                # without a transcript: "words" (LM words, aligned; phone loop
                                             # where unsure) or "phones" (the phone loop alone: faster)
    segment_s: float = 30.0                  # recognition segment length (cut at quiet points)
    time_limit_s: float | None = None        # default: 20 s + 3 x the audio duration (sphinx.time_limit_s)
    max_align_s: float = 4 * 3600.0          # longer recordings are recognised, not aligned
    chunk_align_s: float = 90.0              # longer recordings are aligned in chunks of at most this
    chunk_min_pause_s: float = 0.3           # chunks are cut in pauses at least this long
    chunk_word_search: int = 3               # words a chunk boundary moves by hill climbing
    chunk_word_spread: float = 0.2           # fraction of a chunk's words searched when its estimate fails
    min_align_score_per_frame: float = -60.0 # below: transcript judged not to match
    max_speech_in_silence: float = 0.5       # fraction of detected speech the alignment calls silence
    max_min_length_phones: float = 0.6       # fraction of phones at the 3-frame HMM minimum
    allphone_lw: float = 2.0
    allphone_pip: float = 0.5
    min_word_posterior: float = 0.02         # recognised words less likely than this are replaced by ...
    fallback_context_s: float = 0.3          # ... the phone loop, decoded with this much audio either side
    min_segment_posterior: float = 0.25      # a segment whose words are less likely on average (weighted
                                             # by duration): the phone loop throughout
    max_consonant_s: float = 0.3             # recognised consonants are cut to this (the rest is silence)
    frication_min_ratio: float = 0.3         # TH/DH need a frame with this share of energy above 3 kHz ...
    frication_min_db: float = 15.0           # ... this far above the noise floor (plausibility.py)


    def __post_init__(self) -> None:
        if self.acoustic not in ACOUSTIC_MODELS:
            raise ConfigError(f"acoustic must be one of {', '.join(ACOUSTIC_MODELS)}, got {self.acoustic!r}")
        if self.neural_min_frames < 1:
            raise ConfigError(f"neural_min_frames must be >= 1, got {self.neural_min_frames}")
        if self.recognizer not in RECOGNIZERS:
            raise ConfigError(f"recognizer must be one of {', '.join(RECOGNIZERS)}, got {self.recognizer!r}")


class AlignmentMismatch(PhoneticsError):
    """The transcript does not fit the audio (alignment failed or is implausible)."""


DEFAULT_CONFIG = PhoneticsConfig()   # the stages' default argument (one frozen instance, shared)
