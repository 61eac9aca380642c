"""Add-on preferences: where the engine runs, and where mapping presets are kept."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import bpy
from bpy.props import EnumProperty, StringProperty

from . import runner


def detected_engine_root() -> str:
    root = runner.engine_root()
    return str(root) if root else ""


def detected_python() -> str:
    """The project's ``.venv`` interpreter beside the engine checkout, if there is one."""
    root = runner.engine_root()
    if root is None:
        return ""
    for rel in (".venv/bin/python", ".venv/Scripts/python.exe"):
        if (root / rel).is_file():
            return str(root / rel)
    return ""


class ParleyPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_python: StringProperty(
        name="Engine Python", subtype='FILE_PATH',
        description="Python interpreter with the Parley engine installed (empty: the project's .venv if found)")
    engine_root: StringProperty(
        name="Engine project folder", subtype='DIR_PATH',
        description="Parley checkout with the engine package (empty: detected)")
    engine_mode: EnumProperty(name="Run engine", items=[
        ("AUTO", "Automatic", "in Blender when the engine is importable here, else as a subprocess"),
        ("SUBPROCESS", "Subprocess", "always run the engine interpreter as a separate process"),
        ("IN_PROCESS", "In Blender", "run the engine inside Blender (needs it importable here)")])
    preset_dir: StringProperty(name="Mapping presets", subtype='DIR_PATH',
                               description="folder for your mapping presets (empty: the add-on's user folder)")

    def python(self) -> str:
        return bpy.path.abspath(self.engine_python) if self.engine_python else detected_python()

    def root(self) -> str:
        return bpy.path.abspath(self.engine_root) if self.engine_root else detected_engine_root()

    def presets_folder(self) -> Path:
        if self.preset_dir:
            p = Path(bpy.path.abspath(self.preset_dir))
        else:
            try:
                p = Path(bpy.utils.extension_path_user(__package__, path="presets", create=True))
            except (ValueError, AttributeError):  # a legacy add-on install has no extension user folder
                p = Path(bpy.utils.user_resource('SCRIPTS', path=os.path.join("presets", "parley")))
        p.mkdir(parents=True, exist_ok=True)
        return p

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "engine_mode")
        col.prop(self, "engine_python")
        if not self.engine_python:
            col.label(text=f"Using: {detected_python() or 'none found (set one)'}", icon='INFO')
        col.prop(self, "engine_root")
        if not self.engine_root:
            col.label(text=f"Using: {detected_engine_root() or 'none found'}", icon='INFO')
        col.prop(self, "preset_dir")
        col.label(text=f"Blender Python: {sys.executable}")


def engine_location(context=None) -> tuple[str, str, bool]:
    """(interpreter, engine folder, whether the engine runs in this process) as the preferences say."""
    p = get(context)
    mode = p.engine_mode if p else 'AUTO'
    in_process = mode == 'IN_PROCESS' or (mode == 'AUTO' and runner.engine_in_process())
    return (p.python() if p else detected_python()), (p.root() if p else detected_engine_root()), in_process


def get(context=None) -> ParleyPreferences | None:
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


CLASSES = (ParleyPreferences,)
