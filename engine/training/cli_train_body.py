"""``parley train body``: the learned body's trainer on the command line (added to ``parley train``).

``parley train body --data DIR --out BODY.pt [--minutes M] [--steps N] [--seed S] [--resume]`` trains the
stages vq -> guide -> diffusion (:mod:`engine.training.train_body`) on a corpus folder or a mocap folder
(BVH + wav, BEAT2 npz + wav; ``--retarget-map`` for BVH joint names that are not detected).
``parley train body --init BODY.pt --out SHIP.pt [--card JSON]`` writes a float16 shipping copy.
The parser is extended without importing torch; the handler imports the trainer when it runs.
"""
from __future__ import annotations

import json
import shlex
import sys

from engine.training.cli_kinds import add_kind

KIND = "body"


def extend_train_parser(t) -> None:
    """Add the ``body`` kind and its options to the ``parley train`` parser ``t`` (built in cli_train)."""
    t.add_argument("--retarget-map", help="body: retarget map (name or JSON) for a folder of BVH files")
    add_kind(t, KIND, "the learned body (VQ guide poses + body diffusion)", run)


def run(ns) -> int:
    from engine.training.train_body import BodyTrainConfig, export_body, train_body
    from rigs.core.errors import ConfigError

    if ns.more_data:
        raise ConfigError("train body: --more-data is for lips, face and phones")
    if ns.best:
        raise ConfigError("train body: --best is for lips and face")
    if ns.init and not ns.data:
        card = json.loads(ns.card) if ns.card else None
        print(export_body(ns.init, ns.out, card=card))
        return 0
    if not ns.data:
        raise ConfigError("train body: --data CORPUS_OR_MOCAP_FOLDER is required (or --init CKPT to export)")
    from engine import console

    cfg = BodyTrainConfig(steps=ns.steps, minutes=ns.minutes, seed=ns.seed, threads=ns.threads,
                          batch_size=ns.batch_size, lr=ns.lr)
    bars: dict = {}

    def progress(stage: str, step: int, total, parts: dict) -> None:
        if stage not in bars:
            for b in bars.values():
                b.close()
            bars[stage] = console._tqdm()(total=total, desc=f"train body/{stage}", file=sys.stderr,
                                          dynamic_ncols=True, mininterval=0.5)
        bar = bars[stage]
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{parts['loss']:.4f}", refresh=False)

    try:
        info = train_body(cfg, data=ns.data, out=ns.out, resume=ns.resume, retarget_map=ns.retarget_map,
                          command="parley " + " ".join(shlex.quote(a) for a in sys.argv[1:]), progress=progress)
    finally:
        for b in bars.values():
            b.close()
    print(json.dumps({"out": ns.out, "steps": info.get("steps"), "val": info.get("val")}))
    return 0
