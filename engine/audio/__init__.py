"""Audio in, per-frame signals out; knows nothing of animation.

load (any file -> mono float32 with its source hash), prosody (loudness, f0, voicing, voice activity per clip
frame), and the learned-model inputs (log-mel, MFCC, LPC autocorrelation).
"""
