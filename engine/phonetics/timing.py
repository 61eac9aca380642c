"""The phone-timing policy: force-align the transcript when there is one, else (or when it does not
fit the audio) recognise.

``PhoneticsConfig.acoustic``:

- "auto" (default) with Parley's phone model present (:mod:`.neural`): the phone model aligns (recordings up
  to ``chunk_align_s``; longer ones go to PocketSphinx's chunked aligner); recognition goes through
  PocketSphinx's words, plus the bilabials the phone model hears (``neural_bilabial_boost``). Without the
  model, "auto" is "sphinx".
- "neural": the phone model aligns and recognises (its phone loop): the fastest, with fewer lip closures
  found without a transcript.
- "sphinx": PocketSphinx alone: words then their phones, or the phone loop (``PhoneticsConfig.recognizer``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from engine.audio.load import Audio
from engine.learned.phone_net import shipped_weights_present
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
    :func:`.recognize.recognize`), or by the phone model (module docstring). Raises PhoneticsError when the
    recogniser fails or times out.
    """
    neural = uses_phone_model(config)
    if neural:
        from engine.phonetics import neural as model
        net = model.load_net(config.phone_model_path)
    logpost = None                  # the phone model's posteriors, computed at most once per call
    if transcript is not None and normalize_transcript(transcript):
        try:
            if neural and audio.duration_s <= config.chunk_align_s:
                logpost = model.log_posteriors(audio, net)
                return model.align_neural(audio, transcript, config=config, net=net, logpost=logpost,
                                          progress=progress)
            return align(audio, transcript, config=config, progress=progress)
        except AlignmentMismatch as e:
            log.warning("transcript does not match the audio (%s); using phone recognition instead", e)
    elif transcript is not None:
        log.warning("transcript has no words; using phone recognition instead")
    if neural and config.acoustic == "neural":
        return model.recognize_neural(audio, config=config, net=net, logpost=logpost, progress=progress)
    if config.recognizer == "phones":
        return recognize(audio, config=config, progress=progress)
    phones = recognize_words(audio, config=config, progress=progress)
    if neural and config.neural_bilabial_boost is not None:
        phones = model.add_bilabials(phones, audio, threshold=config.neural_bilabial_boost, config=config, net=net,
                                     logpost=logpost)
    return phones


def uses_phone_model(config: PhoneticsConfig) -> bool:
    """Whether phone timing uses Parley's phone model (``acoustic``: "neural", or "auto" with its weights)."""
    return config.acoustic == "neural" or (config.acoustic == "auto" and (config.phone_model_path is not None
                                                                         or shipped_weights_present()))
