"""Streaming animation: audio chunks in, frames out with a fixed look-ahead (``parley stream``).

- :mod:`~engine.streaming.features`: PCM ring buffer, streaming resampler, incremental log-mel (equal to
  :func:`engine.audio.spectral.log_mel` on the same samples);
- :mod:`~engine.streaming.model`: the :class:`FrameModel` seam (a per-frame face model over a log-mel window),
  the :class:`EnergyFace` stand-in and :func:`offline_predict` (the same model over a whole clip);
- :mod:`~engine.streaming.upper`, :mod:`~engine.streaming.body`: the causal upper face and body;
- :mod:`~engine.streaming.animator`: :class:`StreamingAnimator` (``feed`` / ``flush``) and :class:`StreamFrame`;
- :mod:`~engine.streaming.clip`: the same path behind the :class:`engine.animators.base.Animator` interface;
- :mod:`~engine.streaming.livelink_udp`: Live Link Face datagrams; :mod:`~engine.streaming.cli`: the command.

The causal prosody stages (running loudness, online accents) are in :mod:`engine.audio.causal`. Names are
imported lazily so building the command line stays cheap. See docs/streaming.md.
"""
from __future__ import annotations

_EXPORTS = {
    "StreamingAnimator": "engine.streaming.animator", "StreamFrame": "engine.streaming.animator",
    "StreamConfig": "engine.streaming.animator", "FrameModel": "engine.streaming.model",
    "FrameOutput": "engine.streaming.model", "EnergyFace": "engine.streaming.model",
    "offline_predict": "engine.streaming.model", "StreamAnimator": "engine.streaming.clip",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'engine.streaming' has no attribute {name!r}")
