"""``parley train phones``: the phonetic engine's acoustic phone model on the command line (added to
``parley train``).

``parley train phones --data CORPUS [--more-data CORPUS2 ...] --out PHONES.pt [--minutes M] [--steps N]
[--seed S] [--resume]`` trains (:mod:`engine.training.train_phones`); ``parley train phones --init PHONES.pt
--data CORPUS [--more-data ...] --out FILE.npz [--card JSON]`` exports the numpy weights the phonetic engine
loads (the corpora give the label statistics).
The parser is extended without importing torch; the handler imports the trainer when it runs.
"""
from __future__ import annotations

import json
import shlex
import sys

from engine.training.cli_kinds import add_kind

KIND = "phones"


def extend_train_parser(t) -> None:
    """Add the ``phones`` kind to the ``parley train`` parser ``t`` (built in cli_train)."""
    add_kind(t, KIND, "the phonetic engine's acoustic phone model", run)


def run(ns) -> int:
    from engine.training.train_phones import PhoneTrainConfig, export, train
    from rigs.core.errors import ConfigError

    if not ns.data:
        raise ConfigError("train phones: --data CORPUS is required (to train, and to export: label statistics)")
    if ns.best:
        raise ConfigError("train phones: --best is for lips and face")
    if ns.init:
        try:
            card = json.loads(ns.card) if ns.card else None
        except ValueError as e:
            raise ConfigError(f"train phones: --card must be JSON ({e})") from None
        print(export(ns.init, ns.out, data=ns.data, extra_data=ns.more_data, card=card))
        return 0
    from engine import console

    cfg = PhoneTrainConfig(steps=ns.steps, minutes=ns.minutes, seed=ns.seed, threads=ns.threads, lr=ns.lr,
                           batch_size=ns.batch_size)
    bar = console._tqdm()(total=ns.steps, desc="train phones", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def progress(step: int, total, parts: dict) -> None:
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{parts['loss']:.4f}", refresh=False)

    try:
        info = train(cfg, data=ns.data, out=ns.out, resume=ns.resume, extra_data=ns.more_data, progress=progress,
                     command="parley " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    finally:
        bar.close()
    print(json.dumps({"out": ns.out, "step": info["step"], "val": info["val"]}))
    return 0
