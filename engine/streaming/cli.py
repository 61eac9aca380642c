"""``parley stream``: PCM from stdin or a file -> animation frames as JSON lines or Live Link Face UDP.

The parser and handler; :mod:`engine.cli` adds them with two lines. Imports stay light at parser-building
time (numpy and the models load only when the command runs).

Input: ``-`` (or nothing) reads raw PCM from stdin in ``--format`` (s16le or f32le, little-endian) at
``--rate`` Hz with ``--channels`` interleaved channels; a ``.raw``/``.pcm`` file is read the same way; any
other file is decoded with :func:`engine.audio.load.iter_audio_chunks` (wav, flac, ...). ``--realtime``
paces the input at its own duration (a file plays as if it were live). Output: ``--jsonl OUT|-`` writes one
JSON object per frame (:meth:`engine.streaming.animator.StreamFrame.to_json`; a file is written atomically
when the stream ends, ``-`` is stdout and flushed per frame); ``--udp HOST:PORT`` sends each frame as a Live
Link Face datagram (:mod:`engine.streaming.livelink_udp`). Without either, JSON lines go to stdout.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

STREAM_HELP = """\
Animate a live voice: reads PCM from stdin (or a file) as it arrives and writes one frame per line (JSON)
or Live Link Face UDP packets, with a fixed look-ahead (the neural face's fast path: 99.3 ms; the energy
stand-in: 49.3 ms; the total is printed on stderr). Example: arecord -f S16_LE -r 16000 -c 1 | parley stream -
--udp 127.0.0.1:11111"""
RAW_SUFFIXES = (".raw", ".pcm")
FORMATS = {"s16le": ("<i2", 2), "f32le": ("<f4", 4)}
MAX_LOOKAHEAD_MS = 500.0


def add_stream_parser(sub) -> None:
    """Add the ``stream`` subcommand to an argparse subparsers object."""
    s = sub.add_parser("stream", help="live audio -> frames (JSON lines or Live Link Face UDP)",
                       description=STREAM_HELP)
    s.add_argument("input", nargs="?", default="-", metavar="FILE|-",
                   help="raw PCM on stdin (-, the default), a .raw/.pcm file, or an audio file (wav, flac, ...)")
    s.add_argument("--rate", type=int, default=16000, help="sample rate of raw PCM input (default 16000)")
    s.add_argument("--format", choices=sorted(FORMATS), default="s16le", help="raw PCM sample format")
    s.add_argument("--channels", type=int, default=1, help="interleaved channels of raw PCM (mixed to mono)")
    s.add_argument("--chunk-ms", type=float, default=20.0, help="read size in milliseconds (default 20)")
    s.add_argument("--realtime", action="store_true", help="pace the input at real time (files)")
    s.add_argument("--jsonl", metavar="OUT|-", help="write JSON lines to OUT (.jsonl) or stdout (-)")
    s.add_argument("--udp", metavar="HOST:PORT", help="send Live Link Face packets to HOST:PORT (e.g. 127.0.0.1:11111)")
    s.add_argument("--subject", default="Parley", help="Live Link subject name (default Parley)")
    s.add_argument("--model", choices=("neural", "energy"), default=None,
                   help="face model: neural (the neural face's fast path, 99.3 ms look-ahead; the default when its "
                        "weights exist) or energy (the band-energy stand-in)")
    s.add_argument("--checkpoint", default=None, help="neural-face weights for --model neural (default: shipped)")
    s.add_argument("--lookahead-ms", type=float, default=None,
                   help="look-ahead of the energy model in ms (default 33; rounded to its feature rows)")
    s.add_argument("--seed", type=int, default=0, help="random seed (blinks, gestures, head motion)")
    s.add_argument("--emotion", help="NAME[:INTENSITY][,NAME:INTENSITY...]")
    s.add_argument("--no-body", action="store_true", help="no body joint angles (faster)")


def _raw_chunks(stream, *, fmt: str, channels: int, frames_per_chunk: int):
    """Arrays (n, channels) decoded from a binary stream; a trailing partial sample is dropped."""
    import numpy as np
    dtype, width = FORMATS[fmt]
    block = width * channels
    rest = b""
    while True:
        data = stream.read(frames_per_chunk * block) if not hasattr(stream, "read1") else \
            stream.read1(frames_per_chunk * block)
        if not data:
            break
        data = rest + data
        n = len(data) // block * block
        rest = data[n:]
        if n:
            yield np.frombuffer(data[:n], dtype).reshape(-1, channels)
    if rest:
        import logging
        logging.getLogger(__name__).warning("stream: dropped %d trailing bytes (not a whole sample)", len(rest))


def _check_args(ns) -> None:
    from rigs.core.errors import ConfigError
    if ns.rate < 2000 or ns.rate > 768000:
        raise ConfigError(f"--rate {ns.rate}: expected 2000..768000 Hz")
    if not 1 <= ns.channels <= 64:
        raise ConfigError(f"--channels {ns.channels}: expected 1..64")
    if not 1.0 <= ns.chunk_ms <= 10000.0:
        raise ConfigError(f"--chunk-ms {ns.chunk_ms}: expected 1..10000")


def _chunks(ns):
    """(chunk, sample_rate) pairs of the input."""
    if ns.input == "-" or Path(ns.input).suffix.lower() in RAW_SUFFIXES:
        per = max(1, int(round(ns.chunk_ms / 1000.0 * ns.rate)))
        with contextlib.ExitStack() as stack:
            src = sys.stdin.buffer if ns.input == "-" else stack.enter_context(open(ns.input, "rb"))
            for c in _raw_chunks(src, fmt=ns.format, channels=ns.channels, frames_per_chunk=per):
                yield (c[:, 0] if ns.channels == 1 else c), ns.rate
        return
    from engine.audio.load import iter_audio_chunks
    for c in iter_audio_chunks(ns.input, sr=16000, chunk_s=ns.chunk_ms / 1000.0):
        yield c, 16000


def _paced(chunks, realtime: bool):
    t0 = time.monotonic()
    done_s = 0.0
    for c, sr in chunks:
        yield c, sr
        done_s += len(c) / float(sr)
        if realtime:
            wait = t0 + done_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)


def _neural_model(ns, config):
    """The neural fast path for ``--model neural`` (or no --model when its weights exist), else None; a missing
    default weights file falls back to the energy stand-in with a warning, a missing --checkpoint is an error."""
    from rigs.core.errors import ConfigError

    choice = getattr(ns, "model", None)
    if choice == "energy":
        return None
    if getattr(ns, "lookahead_ms", None) is not None:
        if choice == "neural":
            raise ConfigError("--lookahead-ms sets the energy model's look-ahead; the neural model's is fixed (99.3 ms)")
        return None
    from engine.streaming.neural import NeuralFrameModel, neural_weights_path

    ckpt = getattr(ns, "checkpoint", None)
    path = neural_weights_path(ckpt)
    if not path.is_file():
        if ckpt is not None:
            raise ConfigError(f"--checkpoint {ckpt}: no such file")
        sys.stderr.write(f"parley: warning: neural-face weights not found at {path}; streaming with the energy "
                         "stand-in\n")
        return None
    from engine.learned.streaming import set_threads

    set_threads(1)          # per-frame tensors are tiny: a second intra-op thread only waits for a core
    return NeuralFrameModel(str(path), emotion=dict(config.emotion))


def run_stream(ns) -> int:
    """The ``stream`` command (:func:`add_stream_parser`); returns the exit code."""
    import dataclasses

    from engine.streaming.animator import StreamingAnimator, stream_config
    from engine.streaming.livelink_udp import LiveLinkSender, parse_host_port
    from engine.streaming.model import EnergyFace, EnergyFaceConfig
    from rigs.core.errors import ConfigError
    from rigs.core.files import atomic_path, check_output

    _check_args(ns)
    config = stream_config(seed=ns.seed, emotion=ns.emotion, body=not ns.no_body)
    model = _neural_model(ns, config)
    if model is None:
        cfg = EnergyFaceConfig()
        if ns.lookahead_ms is not None:
            if not 0.0 <= ns.lookahead_ms <= MAX_LOOKAHEAD_MS:
                raise ConfigError(f"--lookahead-ms {ns.lookahead_ms}: expected 0..{MAX_LOOKAHEAD_MS:g}")
            cfg = dataclasses.replace(cfg, lookahead_frames=int(round(ns.lookahead_ms / 1000.0 * 120.0)))
        model = EnergyFace(cfg)
    animator = StreamingAnimator(model, config=config)
    sys.stderr.write(f"parley: streaming at {animator.fps:g} fps with {1000 * animator.lookahead_s:.1f} ms "
                     f"look-ahead (model {animator.model.model_id})\n")
    jsonl = ns.jsonl if (ns.jsonl or ns.udp) else "-"
    sender = None
    if ns.udp:
        host, port = parse_host_port(ns.udp)
        sender = LiveLinkSender(host, port, fps=animator.fps, subject=ns.subject)
    inputs = () if ns.input == "-" else (ns.input,)
    out_path = None if jsonl in (None, "-") else check_output(jsonl, suffixes=(".jsonl", ".json", ".txt"),
                                                              inputs=inputs)
    n = 0
    with contextlib.ExitStack() as stack:
        if sender is not None:
            stack.callback(sender.close)
        if out_path is not None:
            tmp = stack.enter_context(atomic_path(out_path))
            out = stack.enter_context(open(tmp, "w", encoding="utf-8"))
        else:
            out = sys.stdout if jsonl == "-" else None

        def emit(frames):
            nonlocal n
            for f in frames:
                if out is not None:
                    out.write(json.dumps(f.to_json(), separators=(",", ":")) + "\n")
                if sender is not None:
                    sender.send(f)
                n += 1
            if frames and out is sys.stdout:
                out.flush()

        for chunk, sr in _paced(_chunks(ns), ns.realtime):
            emit(animator.feed(chunk, sr))
        emit(animator.flush())
    sys.stderr.write(f"parley: {n} frames, {animator.duration_s:.2f} s of audio\n")
    return 0


def main(argv=None) -> int:   # pragma: no cover - `parley stream` goes through engine.cli
    p = argparse.ArgumentParser(prog="parley")
    add_stream_parser(p.add_subparsers(dest="command"))
    return run_stream(p.parse_args(argv))
