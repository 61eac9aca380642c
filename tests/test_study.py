"""The perceptual study kit without a browser (issue 15): the statistics against hand-computed values, the
trial design, the analysis of scripted raters, reading and merging answers, the SQLite store and the lab
server under concurrent raters, and every bad input as a clear message. The browser end of it is in
tests/test_study_browser.py."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import requires_bpy

from engine.cli import main
from engine.studies import layout, stats
from engine.studies.analyze import analyze, run_analysis
from engine.studies.design import DesignConfig, design_study
from engine.studies.responses import Answer, collect
from engine.studies.site import study_data, write_site
from engine.studies.store import RaterTaken, ResponseStore
from rigs.core.errors import ConfigError, ParleyError

SYSTEMS = ["P", "N"]
AUDIOS = ["u0", "u1", "u2", "u3"]


# ---------------------------------------------------------------------------------------------- statistics
def test_sign_test_matches_hand_computed_binomial_tails():
    assert stats.sign_test_p(9, 1) == pytest.approx(22 / 1024)      # 2 * (C(10,0) + C(10,1)) / 2**10
    assert stats.sign_test_p(1, 9) == pytest.approx(22 / 1024)
    assert stats.sign_test_p(3, 0) == pytest.approx(0.25)           # 2 * 1/8
    assert stats.sign_test_p(7, 1) == pytest.approx(18 / 256)       # 2 * (1 + 8) / 2**8
    assert stats.sign_test_p(5, 5) == 1.0 and stats.sign_test_p(0, 0) == 1.0


def test_wilson_interval_matches_hand_computed_values():
    # 9 of 10, z = 1.96: centre (0.9 + 0.19207) / 1.38415 = 0.78899, half 0.19313 (Wilson 1927, eq. for p)
    lo, hi = stats.wilson_interval(9, 10)
    assert (lo, hi) == (pytest.approx(0.5958, abs=1e-4), pytest.approx(0.9821, abs=1e-4))
    lo, hi = stats.wilson_interval(0, 10)         # upper end z^2 / (n + z^2) = 3.8415 / 13.8415
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = stats.wilson_interval(5, 10)         # symmetric about one half
    assert lo == pytest.approx(1 - hi) and lo == pytest.approx(0.2366, abs=1e-4)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)


def test_holm_fleiss_and_agreement_by_hand():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.fleiss_kappa([[3, 0, 0], [0, 0, 3]]) == pytest.approx(1.0)
    # each item: 2 of 3 raters agree -> P_i = 1/3; categories 1/2, 1/2, 0 -> P_e = 1/2; kappa = -1/3
    assert stats.fleiss_kappa([[2, 1, 0], [1, 2, 0]]) == pytest.approx(-1 / 3)
    assert stats.fleiss_kappa([[4, 0, 0], [4, 0, 0]]) is None     # chance agreement 1: undefined
    signs = {"a": {"t1": 1, "t2": 1, "t3": 0}, "b": {"t1": 1, "t2": -1, "t3": 1}, "c": {"t1": 1, "t2": -1, "t3": 1}}
    # a: t1 others +2 agree, t2 others -2 disagree, t3 undecided -> 1 of 2; b: t1 agree, t2 others 0 (skip),
    # t3 others +1 agree -> 2 of 2; c likewise
    assert stats.agreement_with_others(signs) == {"a": (1, 2), "b": (2, 2), "c": (2, 2)}


# ---------------------------------------------------------------------------------------------- design
def _key(attention=2, mismatched=1, seed=0, systems=SYSTEMS, audios=AUDIOS, moving=("P",)):
    return design_study("feedc0ffee01", list(audios), list(systems), attention_systems=list(moving),
                        config=DesignConfig(attention=attention, mismatched=mismatched, seed=seed))


def test_design_counterbalances_and_blinds():
    key = _key(attention=4, mismatched=2)
    kinds = [t.kind for t in key.trials.values()]
    assert kinds.count("pair") == 4 and kinds.count("attention") == 4 and kinds.count("mismatched") == 4
    assert kinds[0] != "attention"
    pairs = [t for t in key.trials.values() if t.kind == "pair"]
    assert sum(key.stimuli[t.left].system == "P" for t in pairs) == 2          # P left in half the pairs
    checks = [t for t in key.trials.values() if t.kind == "attention"]
    assert sum(key.stimuli[t.left].condition != "intact" for t in checks) == 2  # broken side on each side twice
    assert {key.stimuli[s].condition for t in checks for s in (t.left, t.right)} == {"intact", "shifted", "frozen"}
    assert {key.stimuli[s].system for t in checks for s in (t.left, t.right)} == {"P"}   # the moving system
    for t in key.trials.values():
        if t.kind == "mismatched":
            a, b = key.stimuli[t.left], key.stimuli[t.right]
            assert a.system == b.system and {a.condition, b.condition} == {"intact", "mismatched"}
            bad = a if a.condition == "mismatched" else b
            assert bad.motion_audio != t.audio and bad.audio == t.audio
    assert list(key.trials) == [f"t{k:02d}" for k in range(1, 13)]
    assert all(len(s) == 11 and s.startswith("s") for s in key.stimuli)
    assert _key(seed=1).trials != _key(seed=2).trials


def test_design_refuses_what_cannot_be_built():
    with pytest.raises(ConfigError, match="at least two systems"):
        _key(systems=["P"])
    with pytest.raises(ConfigError, match="at least two utterances"):
        _key(audios=["u0"], mismatched=1)
    with pytest.raises(ConfigError, match="none moves"):
        _key(moving=())


# ---------------------------------------------------------------------------------------------- a paper study
def _paper_study(root: Path, key=None) -> layout.Key:
    """A study folder with the real site and key but empty media files (no rendering)."""
    key = key or _key()
    site = root / layout.SITE
    (site / layout.MEDIA).mkdir(parents=True)
    media = {s: f"media/{s}.mp4" for s in key.stimuli}
    audio_ids = {a: f"a{k:010d}" for k, a in enumerate(AUDIOS)}
    media.update({v: f"media/{v}.wav" for v in audio_ids.values()})
    for rel in media.values():
        (site / rel).write_bytes(b"\x00" * 64 + rel.encode())
    write_site(site, study_data(key, media=media, audio_ids=audio_ids, title="T", question="Q?",
                                require_playback=True))
    (root / layout.KEY).write_text(json.dumps(key.to_json()))
    (root / layout.MANIFEST).write_text(json.dumps({"title": "T", "question": "Q?", "systems": [
        {"name": "P", "source": "mode:phonetic"}, {"name": "N", "source": "mode:neutral"}]}))
    return key


def _answers(key, rater, session, prefer, *, mirrored=False, fail_checks=0):
    """A scripted rater: ``prefer(trial) -> preference`` for the system shown first in the key order (pairs),
    the matched side (mismatched); checks answered for the intact side, the first ``fail_checks`` against it."""
    out, failed = [], 0
    for t in key.trials.values():
        left, right = (t.right, t.left) if mirrored else (t.left, t.right)
        st = key.stimuli
        if t.kind == "pair":
            target = left if st[left].system == key.systems[0] else right
            pref = prefer(t)
        else:
            target = left if st[left].condition == "intact" else right
            pref = prefer(t) if t.kind == "mismatched" else 2
            if t.kind == "attention" and failed < fail_checks:
                pref, failed = -1, failed + 1
        answer = pref if target == right else -pref
        out.append(Answer(key.study_id, rater, session, t.id, left, right, answer, f"2025-01-01T00:00:{len(out):02d}Z"))
    return out


def _submission(key, answers):
    a0 = answers[0]
    return {"format": layout.RESPONSES_FORMAT, "version": 1, "study_id": key.study_id, "rater_id": a0.rater_id,
            "session_id": a0.session_id, "answers": [
                {"trial_id": a.trial_id, "left": a.left, "right": a.right, "answer": a.answer,
                 "answered_at": a.answered_at} for a in answers]}


def _write(path: Path, key, answers) -> Path:
    path.write_text(json.dumps(_submission(key, answers)))
    return path


def test_analysis_of_scripted_raters_matches_hand_counts(tmp_path):
    key = _paper_study(tmp_path)
    pairs = sorted(t.id for t in key.trials.values() if t.kind == "pair")
    r1 = _answers(key, "r1", "s1", lambda t: 2)                                    # P strongly, every pair
    r2 = _answers(key, "r2", "s2", lambda t: -1 if t.id == pairs[0] else 1, mirrored=True)
    r3 = _answers(key, "r3", "s3", lambda t: -2, fail_checks=1)                    # N strongly, fails a check
    r4 = _answers(key, "r4", "s4", lambda t: 0 if t.id in pairs[:2] else 2)
    files = [_write(tmp_path / f"{a[0].rater_id}.json", key, a) for a in (r1, r2, r3, r4)]
    res = analyze(key, collect(files, key))
    assert [(r.rater_id, r.kept, r.checks_failed, r.checks) for r in res.raters] == [
        ("r1", True, 0, 2), ("r2", True, 0, 2), ("r3", False, 1, 2), ("r4", True, 0, 2)]
    (pn,) = res.pairs
    t = pn.tally
    # kept: r1 4 strong P; r2 3 slight P + 1 slight N; r4 2 none + 2 strong P
    assert (pn.x, pn.y, t.strong_x, t.slight_x, t.none, t.slight_y, t.strong_y) == ("P", "N", 6, 3, 2, 1, 0)
    assert pn.p == pytest.approx(2 * (1 + 10) / 2 ** 10)                          # 9 wins of 10 decisive
    assert pn.share_x == pytest.approx(0.9) and pn.ci == (pytest.approx(0.5958, abs=1e-4), pytest.approx(0.9821, abs=1e-4))
    fit = {c.x: c for c in res.appropriateness}
    assert fit["P matched"].tally.wins_x == 3 and fit["N matched"].tally.wins_x == 3
    assert res.answers_counted == 3 * len(key.trials)
    # agreement with the others' majority on pair trials (r3 dropped): on pairs[0] r1 (+) faces r2 (-) and
    # r4 (0), a majority against it, and r2 (-) faces r1 (+) and r4 (0); r4 decided only pairs[2:], with both
    agree = {r.rater_id: (r.agree, r.compared) for r in res.raters}
    assert agree["r1"] == (3, 4) and agree["r2"] == (3, 4) and agree["r4"] == (2, 2)
    # a looser threshold keeps r3, whose 4 strong N answers enter the counts
    loose = analyze(key, collect(files, key), max_failed_checks=1)
    assert loose.pairs[0].tally.strong_y == 4 and all(r.kept for r in loose.raters)


def test_analysis_never_double_counts(tmp_path):
    key = _paper_study(tmp_path)
    a = _answers(key, "r1", "s1", lambda t: 2)
    j = _write(tmp_path / "r1.json", key, a)
    copy = tmp_path / "copy.json"
    copy.write_bytes(j.read_bytes())
    csv_path = tmp_path / "r1.csv"
    csv_path.write_text("study_id,rater_id,session_id,trial_id,left,right,answer,answered_at\n" + "".join(
        f"{x.study_id},{x.rater_id},{x.session_id},{x.trial_id},{x.left},{x.right},{x.answer},{x.answered_at}\n"
        for x in a))
    store = ResponseStore(tmp_path / "db.sqlite", key.study_id)
    store.submit("r1", "s1", a)
    got = collect([j, copy, csv_path, tmp_path / "db.sqlite"], key)
    assert len(got.answers) == len(key.trials)
    assert any("same file" in n for n in got.notes) and any("counted once" in n for n in got.notes)
    # a changed answer in a later file: the latest counts, still once
    later = [x if x.trial_id != "t01" else Answer(**{**x.__dict__, "answer": -x.answer, "answered_at": "2025-02-01"})
             for x in a]
    got = collect([j, _write(tmp_path / "later.json", key, later)], key)
    assert len(got.answers) == len(key.trials)
    assert [x.answer for x in got.answers if x.trial_id == "t01"] == [-a[0].answer]


def test_duplicate_rater_ids(tmp_path):
    key = _paper_study(tmp_path)
    one = _write(tmp_path / "a.json", key, _answers(key, "r1", "s1", lambda t: 2))
    two = _write(tmp_path / "b.json", key, [Answer(**{**x.__dict__, "answered_at": "2026" + x.answered_at[4:]})
                                           for x in _answers(key, "r1", "s2", lambda t: -2)])
    with pytest.raises(ConfigError, match=r"rater id 'r1' has answers from 2 sessions .*--duplicate-raters"):
        collect([one, two], key)
    first = collect([one, two], key, duplicate_raters="first")
    assert {x.session_id for x in first.answers} == {"s1"} and len(first.answers) == len(key.trials)
    assert collect([one, two, _write(tmp_path / "c.json", key, _answers(key, "r2", "s3", lambda t: 1))], key,
                   duplicate_raters="drop").answers[0].rater_id == "r2"


def test_bad_response_files_are_clear_messages(tmp_path):
    key = _paper_study(tmp_path)
    good = _answers(key, "r1", "s1", lambda t: 2)

    def sub(**change):
        d = _submission(key, good)
        d.update(change)
        return d

    cases = {
        "notjson.json": ("{ not json", r"not valid JSON \(line 1, column 3"),
        "empty.json": ("", "is empty"),
        "other.json": (json.dumps({"hello": 1}), "not a Parley study responses object"),
        "study.json": (json.dumps(sub(study_id="0123456789ab")), "another study"),
        "trial.json": (json.dumps(sub(answers=[{**_submission(key, good)["answers"][0], "trial_id": "t99"}])),
                       r"trial 't99' is not in this study"),
        "answer.json": (json.dumps(sub(answers=[{**_submission(key, good)["answers"][0], "answer": 7}])),
                        "answer must be one of -2, -1, 0, 1, 2"),
        "stimuli.json": (json.dumps(sub(answers=[{**_submission(key, good)["answers"][0], "left": "sdeadbeef00"}])),
                         "showed"),
        "columns.csv": ("rater,answer\nr1,2\n", "no column study_id"),
        "ragged.csv": ("study_id,rater_id,session_id,trial_id,left,right,answer\nx,y\n", "line 2: 2 fields"),
        "binary.db": ("SQLite format 3\x00" + "x" * 100, "not a Parley responses database|cannot open"),
    }
    for name, (text, message) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(ConfigError, match=message):
            collect([p], key)
    with pytest.raises(ConfigError, match="not found"):
        collect([tmp_path / "missing.json"], key)
    # a database of another study
    ResponseStore(tmp_path / "other.sqlite", "0123456789ab").submit("r1", "s1", [])
    with pytest.raises(ConfigError, match="not to this study .* give another --db"):
        ResponseStore(tmp_path / "other.sqlite", key.study_id)
    with pytest.raises(ConfigError, match="another study"):
        collect([tmp_path / "other.sqlite"], key)


def test_analyze_cli_reports_and_fails_in_one_line(tmp_path, capsys):
    key = _paper_study(tmp_path)
    files = [_write(tmp_path / f"r{k}.json", key, _answers(key, f"r{k}", f"s{k}", lambda t: 2)) for k in range(3)]
    assert main(["study", "analyze", str(tmp_path), *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert "raters: 3 kept of 3" in out and "P vs N: P preferred in 100% of 12 decisive answers" in out
    for name in ("report.md", "report.html", "preferences.png", "results.json"):
        assert (tmp_path / "analysis" / name).stat().st_size > 0
    html = (tmp_path / "analysis" / "report.html").read_text()
    assert "<script" not in html and 'src="preferences.png"' in html
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert main(["study", "analyze", str(tmp_path), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parley: error: ") and err.count("\n") == 1 and "bad.json is not valid JSON" in err
    assert main(["study", "analyze", str(tmp_path / "nope"), str(files[0])]) == 2
    assert "study folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- store + server
def test_store_under_concurrent_raters_loses_and_doubles_nothing(tmp_path):
    key = _paper_study(tmp_path)
    store = ResponseStore(tmp_path / "db.sqlite", key.study_id)
    raters = [_answers(key, f"r{k}", f"s{k}", lambda t: 1) for k in range(8)]
    errors = []

    def rater(answers):
        try:
            for k in range(len(answers)):          # every answer as given, then everything again (retries)
                store.submit(answers[0].rater_id, answers[0].session_id, answers[k:k + 1])
            store.submit(answers[0].rater_id, answers[0].session_id, answers)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rater, args=(a,)) for a in raters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.counts() == (8, 8 * len(key.trials))
    with pytest.raises(RaterTaken, match="already in use"):
        store.submit("r0", "another-session", raters[0][:1])
    assert len(collect([tmp_path / "db.sqlite"], key).answers) == 8 * len(key.trials)
    # a changed answer (answered later) replaces the stored one; a stale copy of the old one does not come back
    first = raters[0][0]
    changed = Answer(**{**first.__dict__, "answer": -first.answer, "answered_at": "2025-06-01T00:00:00Z"})
    assert store.submit("r0", "s0", [changed]) == (1, len(key.trials))
    assert store.submit("r0", "s0", [first]) == (0, len(key.trials))
    stored = [a for a in collect([tmp_path / "db.sqlite"], key).answers if (a.session_id, a.trial_id) == ("s0", first.trial_id)]
    assert [a.answer for a in stored] == [-first.answer] and store.counts() == (8, 8 * len(key.trials))


def _request(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.fixture()
def served(tmp_path):
    from engine.studies.server import make_server

    key = _paper_study(tmp_path)
    server = make_server(tmp_path, port=0)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield key, server
    server.shutdown()
    server.server_close()


def test_server_serves_the_site_only(served):
    key, server = served
    url = server.url
    status, body, headers = _request(url)
    assert status == 200 and b'src="survey.js"' in body and headers["Content-Type"].startswith("text/html")
    status, body, _ = _request(url + "config.js")
    assert status == 200 and b'"post_url": "responses"' in body
    for path in ("key.json", "../key.json", "%2e%2e/key.json", "media/../../key.json", "manifest.json",
                 "..%2fkey.json", "media", "responses.sqlite"):
        assert _request(url + path)[0] == 404, path
    stim = next(iter(key.stimuli))
    full = _request(url + f"media/{stim}.mp4")[1]
    status, part, headers = _request(url + f"media/{stim}.mp4", headers={"Range": "bytes=10-19"})
    assert status == 206 and part == full[10:20] and headers["Content-Range"] == f"bytes 10-19/{len(full)}"
    assert _request(url + f"media/{stim}.mp4", headers={"Range": "bytes=999-"})[0] == 416


def test_server_stores_posts_and_refuses_bad_ones(served):
    key, server = served
    url = server.url + "responses"
    body = _submission(key, _answers(key, "r1", "s1", lambda t: 2))
    post = json.dumps(body).encode()
    hdr = {"Content-Type": "application/json"}
    status, reply, _ = _request(url, post, hdr)
    assert status == 200 and json.loads(reply) == {"ok": True, "stored": len(key.trials), "total": len(key.trials)}
    assert json.loads(_request(url, post, hdr)[1])["stored"] == 0          # a retry changes nothing
    taken = json.dumps({**body, "session_id": "other"}).encode()
    status, reply, _ = _request(url, taken, hdr)
    assert status == 409 and "already in use" in json.loads(reply)["error"]
    status, reply, _ = _request(url, b"{oops", hdr)
    assert status == 400 and "JSON" in json.loads(reply)["error"]
    unknown = json.dumps({**body, "answers": [{**body["answers"][0], "trial_id": "t77"}]}).encode()
    status, reply, _ = _request(url, unknown, hdr)
    assert status == 400 and "'t77' is not in this study" in json.loads(reply)["error"]
    assert _request(server.url + "elsewhere", post, hdr)[0] == 404
    import http.client

    host, port = server.server_address[:2]
    con = http.client.HTTPConnection(host, port, timeout=10)
    con.putrequest("POST", "/responses")
    con.putheader("Content-Length", str(64 * 1024 * 1024))    # announced, never sent: refused unread
    con.endheaders()
    assert con.getresponse().status == 413
    con.close()
    assert server.store.counts() == (1, len(key.trials))


# ---------------------------------------------------------------------------------------------- make: bad input
def _tone(path: Path, dur_s: float, sr: int = 16000) -> Path:
    t = np.arange(int(sr * dur_s)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), sr)
    return path


def _clips(folder: Path, lengths: dict[str, float]) -> Path:
    from rigs.core.clip import neutral_clip, save_clip

    folder.mkdir(exist_ok=True)
    for name, dur in lengths.items():
        save_clip(neutral_clip(dur), folder / f"{name}.npz")
    return folder


def test_make_refuses_bad_input_before_rendering(tmp_path, capsys):
    audio = tmp_path / "audio"
    audio.mkdir()
    _tone(audio / "a.wav", 1.0)
    _tone(audio / "b.wav", 1.2)
    good = _clips(tmp_path / "good", {"a": 1.0, "b": 1.2})
    longer = _clips(tmp_path / "longer", {"a": 1.0, "b": 1.8})
    partial = _clips(tmp_path / "partial", {"a": 1.0})
    out = str(tmp_path / "S")

    def make(*args) -> str:
        assert main(["study", "make", "--audio", str(audio), "--out", out, *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("parley: error: ") and err.count("\n") == 1, err
        assert not (tmp_path / "S").exists() and not list(tmp_path.glob(".S.making-*"))
        return err

    assert "lasts 1.80 s but its audio b.wav lasts 1.20 s" in make("--system", f"A={good}", "--system", f"B={longer}")
    assert "system B: no clip for the audio b.wav" in make("--system", f"A={good}", "--system", f"B={partial}")
    assert "at least two systems" in make("--system", f"A={good}")
    assert "two systems are named 'A'" in make("--system", f"A={good}", "--system", f"A={longer}")
    assert "unknown mode 'magic'" in make("--system", f"A={good}", "--system", "B=mode:magic")
    assert "clip folder" in make("--system", f"A={good}", "--system", f"B={tmp_path / 'none'}")
    assert "NAME=CLIPS_DIR" in make("--system", "A", "--system", f"B={good}")
    (audio / "a.wav").write_bytes(b"RIFF....WAVEnot really")
    assert "a.wav" in make("--system", f"A={good}", "--system", f"B={good}")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["study", "make", "--audio", str(empty), "--out", out, "--system", f"A={good}",
                 "--system", f"B={good}"]) == 2
    assert "no audio files" in capsys.readouterr().err
    (tmp_path / "S").mkdir()
    (tmp_path / "S" / "x").write_text("keep me")
    assert main(["study", "make", "--audio", str(audio), "--out", out, "--system", f"A={good}",
                 "--system", f"B={good}"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err and (tmp_path / "S" / "x").read_text() == "keep me"


def test_clip_folder_systems_and_motion(tmp_path):
    from engine.studies.systems import Utterance, moving_systems, parse_system, system_clips

    folder = _clips(tmp_path / "c", {"a": 1.0, "extra": 2.0})
    spec = parse_system(f"X={folder}")
    assert spec.clips_dir == folder and spec.source == str(folder)
    assert parse_system("Y=mode:phonetic,transcript").transcript
    with pytest.raises(ConfigError, match="unknown option 'fast'"):
        parse_system("Y=mode:phonetic,fast")
    with pytest.raises(ConfigError, match="system name"):
        parse_system("bad name=mode:neutral")
    u = Utterance("a", _tone(tmp_path / "a.wav", 1.0), 1.0, "")
    assert system_clips(spec, [u], tmp_path) == {"a": folder / "a.npz"}
    assert moving_systems({"N": 0.0, "P": 10.0, "Q": 2.0, "R": 3.0}) == ["P", "R"]
    assert moving_systems({"N": 0.0, "M": 0.0}) == []


@requires_bpy
def test_render_choices_match_the_renderer():
    from addon.blender.encode import ENGINES
    from addon.blender.scene import FRAMINGS
    from engine.studies.stimuli import CAMERAS, RENDER_ENGINES

    assert set(RENDER_ENGINES) == set(ENGINES) and set(CAMERAS) == set(FRAMINGS)


def test_study_parser_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["study", "make", "--audio", "x"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("parley: error: ") and "--system" in err and err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["study", "make", "--audio", "x", "--out", "y", "--system", "A=mode:neutral", "--resolution", "big"])
    assert "resolution must look like 640x360" in capsys.readouterr().err


def test_key_file_damage_is_reported(tmp_path):
    _paper_study(tmp_path)
    (tmp_path / layout.KEY).write_text("{}")
    with pytest.raises(ParleyError, match="not a Parley study key"):
        run_analysis(tmp_path, [tmp_path / "x.json"])
