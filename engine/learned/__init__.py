"""Learned models: the only part of Parley that imports torch (arrays in, arrays out).

- :mod:`~engine.learned.silero`: Silero VAD speech probabilities (used by :mod:`engine.audio.vad`, imported
  only when Silero is asked for).
"""
