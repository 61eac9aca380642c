"""Audio in, per-frame signals out; knows nothing of animation.

- :mod:`~engine.audio.load`: any file -> mono float32 :class:`~engine.audio.load.Audio` with its source hash;
  streaming chunks; levels in dBFS and loudness normalisation.
- :mod:`~engine.audio.prosody`: ``analyze`` / ``analyze_chunks`` -> ``Prosody`` per clip frame (RMS, robust
  loudness, YIN f0 and voicing, voice activity); frame centres and framing.
- :mod:`~engine.audio.vad`: voice activity: the energy detector, Silero VAD (its torch part in
  :mod:`engine.learned.silero`, imported only when used) and the fallback between them.
- :mod:`~engine.audio.spectral`: learned-model inputs (log-mel, MFCC, LPC autocorrelation).

Importing any of these never imports torch.
"""
