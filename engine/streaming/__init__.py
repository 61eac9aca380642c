"""Streaming animation (placeholder, filled below)."""
