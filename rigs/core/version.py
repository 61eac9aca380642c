"""Parley's version: the one source (pyproject, the extension manifest and clip meta read it)."""
__version__ = "0.1.0"
