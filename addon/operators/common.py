"""What Parley operators share: the scene settings, the one way a user error is reported, and removing the
selected row of a list in the settings."""
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


class RemoveSelectedRow:
    """Mixin of an operator that removes the selected row of a settings collection: a subclass names the
    collection (``rows``), its index property (``row_index``) and the message when nothing is selected."""

    rows = ""
    row_index = ""
    none_selected = "no row selected"

    @classmethod
    def poll(cls, context):
        s = settings(context)
        if not 0 <= getattr(s, cls.row_index) < len(getattr(s, cls.rows)):
            cls.poll_message_set(cls.none_selected)
            return False
        return True

    def execute(self, context):
        s = settings(context)
        rows, i = getattr(s, self.rows), getattr(s, self.row_index)
        rows.remove(i)
        setattr(s, self.row_index, min(i, len(rows) - 1))
        return {'FINISHED'}
