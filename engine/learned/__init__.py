"""Learned models: the only part of Parley that imports torch (arrays in, arrays out).

- :mod:`~engine.learned.silero`: Silero VAD speech probabilities (used by :mod:`engine.audio.vad`, imported
  only when Silero is asked for).
- The neural face (issue 11; the ``neural`` animator, :mod:`engine.animators.neural`):
  :mod:`~engine.learned.features` (the log-mel layout and its causal normalisation, numpy),
  :mod:`~engine.learned.encoder` (the shared audio encoder, 99 ms look-ahead),
  :mod:`~engine.learned.lipsync` (the fast path: mouth, lip vertices, lips-closed head, its loss),
  :mod:`~engine.learned.diffusion` (``GaussianDiffusion(network)``), :mod:`~engine.learned.denoiser` (the FiLM
  conv denoiser), :mod:`~engine.learned.face` (both models run on one recording),
  :mod:`~engine.learned.layout` (which model owns which outputs, numpy), :mod:`~engine.learned.checkpoint`
  (the file format), :mod:`~engine.learned.paths` (where the shipped weights live, no torch);
  ``weights/neural_face.pt`` and its card ``weights/neural_face.json``.
"""
