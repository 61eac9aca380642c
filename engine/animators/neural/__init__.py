"""The neural face animator (registry name ``neural``): see :mod:`engine.animators.neural.animator`."""
