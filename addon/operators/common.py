"""What every Parley operator shares: the scene settings and the one way a user error is reported."""
from __future__ import annotations

import functools

from .. import services


def settings(context):
    return context.scene.parley


def reports_errors(method):
    """Wrap an operator method: a :class:`ParleyError` (the user's to fix) becomes one reported line and
    ``{'CANCELLED'}``; anything else is a bug and keeps its traceback."""
    @functools.wraps(method)
    def wrapper(self, context, *args):
        try:
            return method(self, context, *args)
        except services.ParleyError as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
    return wrapper
