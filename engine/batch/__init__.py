"""Resumable batches of dialogue lines: ``parley batch MANIFEST.csv --out DIR`` (a front end above the
runtime, like :mod:`engine.studies`; nothing below the CLI imports it).

* :mod:`engine.batch.manifest`: the CSV manifest (one dialogue line a row), its columns and row checks.
* :mod:`engine.batch.work`: what a worker does with one line (animate, export, return the files' bytes).
* :mod:`engine.batch.local`: worker processes on this machine; a worker that dies is replaced and its line
  retried once.
* :mod:`engine.batch.ray_pool`: the same on a Ray cluster (optional ``ray`` package).
* :mod:`engine.batch.store`: the results table in SQLite inside the output folder, exportable as CSV.
* :mod:`engine.batch.job`: the driver: plan (skip lines whose content hash is done), dispatch, write each
  line's files atomically and record it.
* :mod:`engine.batch.cli`: ``parley batch`` and ``parley batch export``.
"""
