"""Perceptual studies of motion: stimuli, a blinded web survey, a lab server and the analysis
(``parley study make | serve | analyze``).

The kit sits on top of the engine: it animates through :func:`engine.runtime.create_animator`, renders
through ``python -m engine render`` in child processes (the engine never imports bpy), and nothing in the
engine imports it (an import-linter contract). Modules, in the order a study goes:

* :mod:`~engine.studies.layout`: the study folder (file names, the manifest and the key raters never see).
* :mod:`~engine.studies.systems`: the systems compared (``NAME=CLIPS_DIR`` or ``NAME=mode:MODE``), their clips.
* :mod:`~engine.studies.design`: the trials (pairs, attention checks, mismatched audio), counterbalanced.
* :mod:`~engine.studies.stimuli`: rendering and deriving the blinded videos and audio.
* :mod:`~engine.studies.site`: the static survey (HTML/CSS/JS package data in ``web/``).
* :mod:`~engine.studies.make`: ``parley study make``.
* :mod:`~engine.studies.server`: ``parley study serve`` (the site and a SQLite store of the answers).
* :mod:`~engine.studies.responses`: reading the answers back (exports, databases), checked and deduplicated.
* :mod:`~engine.studies.stats`, :mod:`~engine.studies.analyze`, :mod:`~engine.studies.report`:
  ``parley study analyze``.

References: Ng et al., "From Audio to Photoreal Embodiment" (CVPR 2024), pairwise A/B studies on mesh
renders; Kucherenko et al., "The GENEA Challenge 2022" and "2023" (human-likeness and appropriateness
with matched and mismatched speech, attention checks).
"""
