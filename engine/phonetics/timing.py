"""The phone-timing policy: force-align the transcript when there is one, else (or when it does not
fit the audio) recognise: words then their phones, or the phone loop alone (``PhoneticsConfig.recognizer``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from engine.audio.load import Audio
from engine.phonetics.align import align
from engine.phonetics.config import DEFAULT_CONFIG, AlignmentMismatch, PhoneticsConfig
from engine.phonetics.lexicon import normalize_transcript
from engine.phonetics.recognize import recognize
from engine.phonetics.words import recognize_words
from rigs.core.phones import Phone

log = logging.getLogger(__name__)


def phone_timing(audio: Audio, *, transcript: str | None = None, config: PhoneticsConfig = DEFAULT_CONFIG,
                 progress: Callable[[float], None] | None = None) -> list[Phone]:
    """Phones covering [0, audio.duration_s] contiguously, sorted, SIL in pauses.

    ``progress(fraction)`` is called as the decoder works through the audio; it may raise (e.g.
    CancelledError) to stop the run between utterances.

    With ``transcript``: forced alignment; falls back to recognition with a logged warning when the
    transcript does not match the audio. Without: recognition, through words (``config.recognizer ==
    "words"``, :func:`.words.recognize_words`) or the phone loop alone (``"phones"``,
    :func:`.recognize.recognize`). Raises PhoneticsError when the recogniser fails or times out.
    """
    if transcript is not None and normalize_transcript(transcript):
        try:
            return align(audio, transcript, config=config, progress=progress)
        except AlignmentMismatch as e:
            log.warning("transcript does not match the audio (%s); using phone recognition instead", e)
    elif transcript is not None:
        log.warning("transcript has no words; using phone recognition instead")
    if config.recognizer == "phones":
        return recognize(audio, config=config, progress=progress)
    return recognize_words(audio, config=config, progress=progress)
