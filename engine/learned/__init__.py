"""Learned models: the only part of Parley that imports torch (arrays in, arrays out)."""
