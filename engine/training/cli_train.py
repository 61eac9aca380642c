"""``parley train lips|face|export``: the command-line jobs of the neural-face trainers.

The parser is built without importing torch; the handler imports the trainer when it runs.
"""
from __future__ import annotations

import json
import shlex
import sys

from engine.training import cli_train_body, cli_train_phones

TRAIN_HELP = """\
Train the neural face on a corpus (`parley corpus build`). `lips` trains the fast path (audio -> mouth,
lip vertices, lips-closed head); `face` trains face diffusion (upper face, head, eyes) on top of a lip
regressor (--lips or --init) and writes the file the neural animator loads. `export` writes a float16
shipping copy. --init default fine-tunes the shipped weights (never overwriting them)."""


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train the neural face (lips, face) on a corpus", description=TRAIN_HELP)
    t.add_argument("kind", choices=("lips", "face", "export"), help="what to train (or export)")
    t.add_argument("--data", help="corpus folder (train and val splits), or for lips and face a folder of your own "
                   "FACEGOOD or Live Link Face takes (its corpus is built beside --out, as OUT.corpus, and reused)")
    t.add_argument("--more-data", action="append", default=[], metavar="CORPUS",
                   help="lips, face, phones: another corpus whose train split is trained on too (repeatable; "
                   "validation stays on --data's val split)")
    t.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    t.add_argument("--init", help="start from 'default' (the shipped weights) or a checkpoint; for export: the source")
    t.add_argument("--lips", help="face: the trained lip regressor to build on")
    t.add_argument("--minutes", type=float, help="wall-time budget")
    t.add_argument("--steps", type=int, help="optimizer-step budget")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    t.add_argument("--device", default="cpu")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    t.add_argument("--best", metavar="W.pt", help="lips, face: also keep the weights of the validation with the lowest "
                   "val loss in this file (early stopping; --out keeps the last step)")
    t.add_argument("--card", help="export: JSON object added to the checkpoint's info (how it was made)")
    t.add_argument("--sampling", help='export: JSON of face sampling settings, e.g. {"sampling_steps": 20, "eta": 1.0}')
    t.set_defaults(handler=run)
    cli_train_body.extend_train_parser(t)     # `parley train body` (engine/training/cli_train_body.py)
    cli_train_phones.extend_train_parser(t)   # `parley train phones` (engine/training/cli_train_phones.py)


def run(ns) -> int:
    from engine.training.train_face import TrainConfig, check_run, export, train
    from rigs.core.errors import ConfigError

    if ns.more_data and ns.kind not in ("lips", "face"):
        raise ConfigError(f"train {ns.kind}: --more-data is for lips, face and phones")
    if ns.kind == "export":
        if ns.best:
            raise ConfigError("export: --best is for training lips or face")
        if not ns.init:
            raise ConfigError("export: give the source checkpoint with --init")
        try:
            card = json.loads(ns.card) if ns.card else None
            sampling = json.loads(ns.sampling) if ns.sampling else None
        except ValueError as e:
            raise ConfigError(f"export: --card/--sampling must be JSON ({e})") from None
        print(export(ns.init, ns.out, card=card, sampling=sampling))
        return 0
    if not ns.data:
        raise ConfigError(f"train {ns.kind}: --data CORPUS is required")
    from engine import console
    from engine.training.corpus.captures import corpus_for_training

    cfg = TrainConfig(kind=ns.kind, steps=ns.steps, minutes=ns.minutes, batch_size=ns.batch_size, lr=ns.lr,
                      seed=ns.seed, threads=ns.threads)
    check_run(cfg, out=ns.out, best=ns.best, resume=ns.resume)      # before a corpus of takes is built
    command = "parley " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    data = corpus_for_training(ns.data, ns.out, command=command)      # a folder of takes: its corpus
    bar = console._tqdm()(total=ns.steps, desc=f"train {ns.kind}", file=sys.stderr, dynamic_ncols=True,
                          mininterval=0.5)

    def progress(step: int, total, parts: dict) -> None:
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{parts['loss']:.4f}", refresh=False)

    try:
        info = train(cfg, data=data, extra_data=ns.more_data, out=ns.out, init=ns.init, lips_checkpoint=ns.lips,
                     resume=ns.resume, best=ns.best, device=ns.device, progress=progress, command=command)
    finally:
        bar.close()
    print(json.dumps({"out": ns.out, "step": info.get("step"), "val": info.get("val")}))
    return 0
