"""The static survey site of a study: ``STUDY/site/`` with the page (``web/index.html``, ``style.css``,
``survey.js``: package data, copied as they are), ``study.js`` (the blinded trials and media of this study)
and ``config.js`` (where answers are posted; ``parley study serve`` hands out its own).

Plain HTML, CSS and JavaScript with no build step: the page opens from a file (``file://.../index.html``,
which is why the data are JavaScript files rather than JSON fetched at run time) or from any static server.
What a rater's browser can load names no system: stimuli and audio are random tokens, and the trial kinds
(attention checks, mismatched audio) are not in it.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from engine.studies.layout import CONFIG_JS, STUDY_JS, Key

PAGE_FILES = ("index.html", "style.css", "survey.js")
DEFAULT_TITLE = "Which motion fits the speech?"
DEFAULT_QUESTION = "Which character's motion fits the speech better?"


def js_assignment(name: str, value) -> str:
    """``window.NAME = <value as JSON>;`` safe to load as a script (no ``</script>`` or line separators)."""
    text = json.dumps(value, indent=1, ensure_ascii=True).replace("</", "<\\/")
    return f"window.{name} = {text};\n"


def config_js(post_url: str | None) -> str:
    return js_assignment("PARLEY_CONFIG", {"post_url": post_url})


def study_data(key: Key, *, media: dict[str, str], audio_ids: dict[str, str], title: str, question: str,
               require_playback: bool) -> dict:
    """What the page gets: the study id, texts, trials as (id, audio token, left and right stimulus ids)
    and where each token's file is (``media``: token -> path relative to the site)."""
    return {"study_id": key.study_id, "title": title, "question": question,
            "require_playback": bool(require_playback),
            "trials": [{"id": t.id, "audio": audio_ids[t.audio], "left": t.left, "right": t.right}
                       for t in key.trials.values()],
            "media": dict(sorted(media.items()))}


def write_site(site_dir: Path, data: dict, *, post_url: str | None = None) -> Path:
    """Write the page files, ``study.js`` and ``config.js`` into ``site_dir`` (which holds ``media/``)."""
    site_dir.mkdir(parents=True, exist_ok=True)
    web = resources.files("engine.studies") / "web"
    for name in PAGE_FILES:
        (site_dir / name).write_bytes((web / name).read_bytes())
    (site_dir / STUDY_JS).write_text(js_assignment("PARLEY_STUDY", data), encoding="utf-8")
    (site_dir / CONFIG_JS).write_text(config_js(post_url), encoding="utf-8")
    return site_dir / "index.html"
