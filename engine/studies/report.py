"""The report of a study's analysis: ``report.md``, ``report.html`` (one page, no scripts), ``preferences.png``
(stacked bars by strength, as in the papers' figures; matplotlib, Agg) and ``results.json``, written all
together or not at all (:func:`rigs.core.files.atomic_paths`).

References: Ng et al., "From Audio to Photoreal Embodiment" (CVPR 2024), Fig. 6 (pairwise preference bars
split into slight and strong).
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from engine.studies.analyze import Analysis, Comparison
from rigs.core.errors import ConfigError, OutputError
from rigs.core.files import atomic_paths

CHART = "preferences.png"
FILES = ("report.md", "report.html", CHART, "results.json")
# strong X, slight X, none, slight Y, strong Y
COLOURS = ("#1f4e9c", "#8fb3e6", "#d0d0d0", "#f3b27a", "#c0541a")
LEGEND = ("strongly the left name", "slightly the left name", "no preference", "slightly the right name",
          "strongly the right name")
CHART_DPI = 150
ROW_HEIGHT_IN = 0.55


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def _p(v: float) -> str:
    return f"{v:.3g}" if v >= 0.001 else f"{v:.1e}"


def _rows(comparisons: list[Comparison]) -> list[list[str]]:
    return [[c.label, str(c.tally.n), str(c.tally.strong_x), str(c.tally.slight_x), str(c.tally.none),
             str(c.tally.slight_y), str(c.tally.strong_y), _pct(c.share_x),
             f"{_pct(c.ci[0])}-{_pct(c.ci[1])}", _p(c.p), _p(c.p_holm)] for c in comparisons]


HEADER = ["comparison (X vs Y)", "answers", "strongly X", "slightly X", "no pref.", "slightly Y", "strongly Y",
          "X preferred (of decisive)", "95% CI (Wilson)", "sign test p", "p (Holm)"]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _rater_rows(a: Analysis) -> list[list[str]]:
    return [[r.rater_id, str(r.answers), f"{r.checks_failed} of {r.checks}", "kept" if r.kept else "dropped",
             f"{r.agree} of {r.compared} ({_pct(r.agree / r.compared if r.compared else None)})"] for r in a.raters]


RATER_HEADER = ["rater", "answers", "attention checks failed", "status", "agrees with the others' majority"]


def _sections(a: Analysis, manifest: dict, created: str) -> list[tuple[str, str, object]]:
    """(heading, paragraph, table or image) in report order; a table is (header, rows)."""
    kept = sum(r.kept for r in a.raters)
    out: list[tuple[str, str, object]] = []
    out.append(("", f"Study {a.study_id}: \u201c{manifest.get('question', '')}\u201d. Analysed {created} from "
                f"{len(a.files)} file(s). {kept} of {len(a.raters)} raters kept (raters failing more than "
                f"{a.max_failed_checks} attention checks are left out); {a.answers_counted} answers counted, each "
                "session's answer to a trial once.", None))
    if a.pairs:
        out.append(("Preference between systems", "Each row: how often X or Y was preferred, strongly or "
                    "slightly. The share preferring X is of the decisive answers (no preference left out), with "
                    "the Wilson 95% interval and the two-sided exact sign test against 50%.",
                    (HEADER, _rows(a.pairs))))
    if a.appropriateness:
        out.append(("Appropriateness (matched vs mismatched speech)", "A system's motion for the speech heard "
                    "against the same system's motion for another utterance: preferring the matched side means "
                    "the motion fits this speech, not just speech.", (HEADER, _rows(a.appropriateness))))
    if a.comparisons:
        out.append(("Chart", "", CHART))
    kappa = "undefined (too few raters or answers)" if a.kappa is None else f"{a.kappa:.3f}"
    out.append(("Raters and agreement", f"Fleiss' kappa over the pair trials (X, none, Y): {kappa}.",
                (RATER_HEADER, _rater_rows(a))))
    if a.notes:
        out.append(("Notes", "\n".join(f"- {n}" for n in a.notes), None))
    systems = ", ".join(f"{s['name']} = {s['source']}" for s in manifest.get("systems", []))
    render = manifest.get("render", {})
    out.append(("Method", f"Systems: {systems}. Rendered with {render.get('engine', '?')} at "
                f"{'x'.join(map(str, render.get('resolution', [])))}, camera {render.get('camera', '?')}. Trials: "
                f"{manifest.get('trials', {})}. Sign test: Conover (1999) 3.4; Wilson (1927) intervals; Holm (1979) "
                "over the rows of a table; Fleiss (1971) kappa.", None))
    return out


def markdown(a: Analysis, manifest: dict, created: str) -> str:
    title = manifest.get("title") or "Perceptual study"
    parts = [f"# Report: {title}"]
    for heading, text, body in _sections(a, manifest, created):
        if heading:
            parts.append(f"## {heading}")
        if text:
            parts.append(text)
        if isinstance(body, tuple):
            parts.append(_md_table(*body))
        elif isinstance(body, str):
            parts.append(f"![preferences by strength]({body})")
    return "\n\n".join(parts) + "\n"


def html_page(a: Analysis, manifest: dict, created: str) -> str:
    e = html.escape
    title = manifest.get("title") or "Perceptual study"
    body = [f"<h1>Report: {e(title)}</h1>"]
    for heading, text, content in _sections(a, manifest, created):
        if heading:
            body.append(f"<h2>{e(heading)}</h2>")
        if text.startswith("- "):
            body.append("<ul>" + "".join(f"<li>{e(line[2:])}</li>" for line in text.splitlines()) + "</ul>")
        elif text:
            body.append(f"<p>{e(text)}</p>")
        if isinstance(content, tuple):
            header, rows = content
            body.append("<table><thead><tr>" + "".join(f"<th scope=\"col\">{e(h)}</th>" for h in header)
                        + "</tr></thead><tbody>" + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
                                                           for r in rows) + "</tbody></table>")
        elif isinstance(content, str):
            body.append(f"<img src=\"{e(content)}\" alt=\"Stacked bars: share of answers preferring each side, "
                        "strongly or slightly, for each comparison\">")
    style = ("body{font:15px/1.45 system-ui,sans-serif;max-width:70rem;margin:1rem auto;padding:0 1rem;color:#1d1d1f}"
             "table{border-collapse:collapse;margin:0.5rem 0}td,th{border:1px solid #ccc;padding:0.25rem 0.5rem;"
             "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            f"content=\"width=device-width, initial-scale=1\"><title>{e(title)}</title><style>{style}</style></head>"
            "<body>" + "\n".join(body) + "</body></html>\n")


def chart(a: Analysis, path: Path) -> None:
    """Horizontal stacked bars, one per comparison: the shares of strong/slight preference for X, none,
    slight/strong for Y, X's name left of its bar and Y's right."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("the report's chart needs matplotlib (pip install matplotlib, or parley[study])") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = a.comparisons
    fig, ax = plt.subplots(figsize=(8.0, 0.9 + ROW_HEIGHT_IN * max(1, len(rows))), dpi=CHART_DPI)
    try:
        for i, c in enumerate(rows):
            left = 0.0
            for share, colour in zip(c.tally.shares(), COLOURS):
                ax.barh(i, 100 * share, left=left, color=colour, edgecolor="white", height=0.7)
                if share >= 0.08:
                    ax.text(left + 50 * share, i, f"{100 * share:.0f}", ha="center", va="center", fontsize=8)
                left += 100 * share
            ax.text(-1.5, i, c.x, ha="right", va="center", fontsize=9)
            ax.text(101.5, i, f"{c.y}\n(n={c.tally.n}, p={_p(c.p)})", ha="left", va="center", fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_yticks([])
        ax.set_xlabel("% of answers")
        ax.axvline(50, color="black", linewidth=0.6, linestyle=":")
        handles = [plt.Rectangle((0, 0), 1, 1, color=col) for col in COLOURS]
        ax.legend(handles, LEGEND, ncol=5, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
        for spine in ("top", "right", "left"):
            ax.spines[spine].set_visible(False)
        fig.tight_layout()
        fig.subplots_adjust(left=0.2, right=0.8)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def results_json(a: Analysis, manifest: dict, created: str) -> dict:
    def comp(c: Comparison) -> dict:
        t = c.tally
        return {"x": c.x, "y": c.y, "n": t.n, "strong_x": t.strong_x, "slight_x": t.slight_x, "none": t.none,
                "slight_y": t.slight_y, "strong_y": t.strong_y, "share_x": c.share_x, "ci95": list(c.ci),
                "p": c.p, "p_holm": c.p_holm}

    return {"study_id": a.study_id, "created": created, "question": manifest.get("question"),
            "answers_counted": a.answers_counted, "max_failed_checks": a.max_failed_checks,
            "pairs": [comp(c) for c in a.pairs], "appropriateness": [comp(c) for c in a.appropriateness],
            "fleiss_kappa": a.kappa, "notes": a.notes, "files": a.files,
            "raters": [{"rater_id": r.rater_id, "answers": r.answers, "checks": r.checks,
                        "checks_failed": r.checks_failed, "kept": r.kept, "agree": r.agree, "compared": r.compared}
                       for r in a.raters]}


def write_report(a: Analysis, out_dir: Path, *, manifest: dict, created: str) -> list[Path]:
    """Write the report files into ``out_dir`` (created if its parent exists); returns their paths."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        if not out_dir.parent.is_dir():
            raise OutputError(f"cannot write the report into {out_dir}: folder {out_dir.parent} does not exist")
        out_dir.mkdir()
    paths = [out_dir / f for f in FILES]
    with atomic_paths(paths) as (md, page, png, js):
        md.write_text(markdown(a, manifest, created), encoding="utf-8")
        page.write_text(html_page(a, manifest, created), encoding="utf-8")
        chart(a, png)
        js.write_text(json.dumps(results_json(a, manifest, created), indent=1) + "\n", encoding="utf-8")
    return paths
