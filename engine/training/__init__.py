"""Training: corpora, trainers and their command-line jobs. Never imported by the runtime.

The runtime (``engine.runtime``, ``engine.animators`` and below) only loads trained weights through
``engine.learned``; everything that builds data or optimises a model lives here, above it, and only the
command line imports it (an import-linter contract in ``pyproject.toml``).
"""
