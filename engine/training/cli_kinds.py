"""Adding a kind of model to ``parley train`` (built in :mod:`.cli_train`): each trainer's CLI module
registers its kind and handler here, without importing torch."""
from __future__ import annotations

from collections.abc import Callable


def add_kind(t, kind: str, help_text: str, run: Callable[[object], int]) -> None:
    """Add ``kind`` to the choices of the ``parley train`` parser ``t``; ``run(ns)`` handles it, the handler
    already set handles every other kind."""
    action = next(a for a in t._actions if a.dest == "kind")
    action.choices = (*action.choices, kind)
    action.help = f"{action.help}; {kind}: {help_text}"
    other = t.get_default("handler")

    def handler(ns) -> int:
        return run(ns) if ns.kind == kind else other(ns)

    t.set_defaults(handler=handler)
