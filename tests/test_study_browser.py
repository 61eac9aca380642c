"""The perceptual study kit end to end in a real browser (issue 15): `parley study make` renders a 4-pair study
from two systems (phonetic vs neutral) on cuts of the shipped sample at tiny size, headless Chromium (Debian's
chromium + chromedriver through selenium, no browser download) completes it with a reload halfway and exports
the answers, two browsers post to `parley study serve` at once, and `parley study analyze` reads it all back.

Skipped (with the reason) only when chromium, chromedriver, selenium or bpy is missing.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import HAVE_BPY

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SAMPLE = ROOT / "engine" / "samples" / "demo.wav"
CUT_STARTS_S = (0.3, 3.0, 5.5, 8.0)   # four utterances cut from the sample (speech in each)
CUT_S = 1.5
RESOLUTION = "96x54"
WAIT_S = 20.0


def _missing() -> str | None:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return "needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install selenium; in the test extra)"
    if not HAVE_BPY:
        return "needs bpy (Blender as a module) to render the stimuli"
    if shutil.which("ffmpeg") is None:
        return "needs ffmpeg"
    return None


pytestmark = [pytest.mark.skipif(_missing() is not None, reason=_missing() or ""), pytest.mark.blender,
              pytest.mark.slow]


def _cli(*args, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, **kw)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A study made by the real CLI: 4 utterances x (phonetic vs neutral), 2 attention checks, 1 mismatched
    trial per system; renders at 96x54 two at a time."""
    base = tmp_path_factory.mktemp("study")
    audio = base / "audio"
    audio.mkdir()
    x, sr = sf.read(SAMPLE, dtype="float32")
    for k, t0 in enumerate(CUT_STARTS_S):
        sf.write(audio / f"u{k}.wav", x[int(t0 * sr):int((t0 + CUT_S) * sr)], sr)
    out = base / "S"
    r = _cli("study", "make", "--audio", audio, "--system", "P=mode:phonetic", "--system", "N=mode:neutral",
             "--out", out, "--resolution", RESOLUTION, "--mismatched", "1", "--jobs", "2", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == out / "site" / "index.html"
    return out


@pytest.fixture(scope="module")
def key(study) -> dict:
    return json.loads((study / "key.json").read_text())


def _browser(profile: Path, download_dir: Path | None = None):
    """Headless Chromium with a fresh profile folder ``profile`` (under the test's tmp_path)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1000,760",
              f"--user-data-dir={profile}"):
        opts.add_argument(a)
    if download_dir is not None:
        opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                               "download.prompt_for_download": False})
    return webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))


def _wait(cond, what: str, timeout_s: float = WAIT_S):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _shown(d) -> tuple[str, str]:
    """The stimulus ids on the left and right (the videos' file names)."""
    return tuple(Path(d.find_element("id", f"video-{side}").get_attribute("src")).stem for side in ("left", "right"))


def wanted_answer(key: dict, left: str, right: str) -> int:
    """The scripted rater: strongly prefers P in pairs, the intact side of checks, slightly the matched side."""
    st = key["stimuli"]
    if st[left]["condition"] != st[right]["condition"]:           # attention check or mismatched trial
        good_right = st[right]["condition"] == "intact"
        strength = 1 if "mismatched" in (st[left]["condition"], st[right]["condition"]) else 2
        return strength if good_right else -strength
    return 2 if st[right]["system"] == "P" else -2


def _start(d, url: str, rater: str) -> None:
    d.get(url)
    _wait(lambda: d.find_element("id", "intro").is_displayed(), "the consent page")
    d.find_element("id", "consent").click()
    d.find_element("id", "rater").send_keys(rater)
    d.find_element("id", "start").click()


def _answer(d, key: dict, *, keyboard: bool, submit: bool = True) -> tuple[str, str, int]:
    """Play the current clip to its end, answer as the scripted rater, press Next (if ``submit``)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _wait(lambda: d.find_element("id", "trial").is_displayed(), "a trial")
    left, right = _shown(d)
    d.find_element("id", "play").click()
    _wait(lambda: not d.find_element("id", "answer-3").get_property("disabled"), "the clip to play to its end")
    value = wanted_answer(key, left, right)
    if keyboard:  # the keys 1..5 choose, Enter goes on (to whatever has the focus: the page handles them)
        ActionChains(d).send_keys(str(value + 3)).perform()
    else:
        d.find_element(By.CSS_SELECTOR, f"label[for=answer-{value + 3}]").click()
    if submit:
        if keyboard:
            ActionChains(d).send_keys(Keys.ENTER).perform()
        else:
            d.find_element("id", "next").click()
    return left, right, value


def _stored(d) -> dict:
    return d.execute_script("var k = Object.keys(localStorage).filter(function (x) { return /^parley-study:[0-9a-f]+$/"
                            ".test(x); })[0]; return JSON.parse(localStorage.getItem(k));")


def test_study_folder_is_blinded(study, key):
    site = study / "site"
    assert not (site / "key.json").exists()
    blob = "".join(p.read_text(errors="replace") for p in site.glob("*.js"))
    for name in ("phonetic", "neutral", '"P"', '"N"', "attention", "mismatched", "u0"):
        assert name not in blob
    kinds = [t["kind"] for t in key["trials"]]
    assert kinds.count("pair") == 4 and kinds.count("attention") == 2 and kinds.count("mismatched") == 2
    assert {key["stimuli"][s]["condition"] for t in key["trials"] if t["kind"] == "attention"
            for s in (t["left"], t["right"])} == {"intact", "shifted", "frozen"}
    manifest = json.loads((study / "manifest.json").read_text())
    assert manifest["attention_systems"] == ["P"]   # the neutral system does not move: a frozen copy would not show
    # every stimulus lasts as long as its audio (1.5 s at 30 fps)
    for p in (site / "media").glob("*.mp4"):
        r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
                            "stream=nb_read_frames,width,height", "-of", "json", p], capture_output=True, text=True)
        s = json.loads(r.stdout)["streams"][0]
        assert (s["width"], s["height"], int(s["nb_read_frames"])) == (96, 54, 45), p.name


def test_complete_study_with_reload_and_export(study, key, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    d = _browser(tmp_path / "profile", downloads)
    try:
        _start(d, (study / "site" / "index.html").as_uri(), "rater-a")
        n = len(key["trials"])
        # nothing can be answered before the clip has played to its end
        _wait(lambda: d.find_element("id", "trial").is_displayed(), "the first trial")
        assert d.find_element("id", "answer-1").get_property("disabled")
        assert d.find_element("id", "next").get_property("disabled")
        # every control is labelled; on a phone-sized window the videos stay side by side inside the screen
        # and the five answers stack into one column
        assert d.execute_script("return Array.prototype.every.call(document.querySelectorAll('input'), "
                                "function (i) { return i.labels.length > 0 && i.labels[0].textContent.trim(); })")
        d.set_window_size(420, 900)
        geo = d.execute_script(
            "function r(id) { return document.getElementById(id).getBoundingClientRect(); }"
            "return {w: document.documentElement.clientWidth, l: r('video-left'), r: r('video-right'),"
            " a1: r('answer-1').top, lab1: document.querySelector('label[for=answer-1]').getBoundingClientRect(),"
            " lab5: document.querySelector('label[for=answer-5]').getBoundingClientRect()};")
        assert geo["l"]["top"] == geo["r"]["top"] and geo["r"]["right"] <= geo["w"]
        assert geo["lab5"]["top"] > geo["lab1"]["bottom"] and geo["lab1"]["width"] > 0.8 * geo["w"]
        d.set_window_size(1000, 760)
        given = {}
        for i in range(n // 2):
            left, right, value = _answer(d, key, keyboard=i % 2 == 0)
            given[(left, right)] = value
        # an answer chosen but not yet confirmed with Next survives the reload too
        left, right, value = _answer(d, key, keyboard=False, submit=False)
        before = _stored(d)
        d.refresh()
        _wait(lambda: d.find_element("id", "trial").is_displayed(), "the trial after the reload")
        assert d.find_element("id", "progress-text").text == f"Clip {n // 2 + 1} of {n}"
        assert _shown(d) == (left, right)
        assert d.find_element("id", f"answer-{value + 3}").is_selected()
        after = _stored(d)
        assert after["answers"] == before["answers"] and len(after["answers"]) == n // 2 + 1
        assert after["order"] == before["order"] and after["session_id"] == before["session_id"]
        d.find_element("id", "next").click()
        given[(left, right)] = value
        for i in range(n - n // 2 - 1):
            left, right, value = _answer(d, key, keyboard=i % 2 == 1)
            given[(left, right)] = value
        _wait(lambda: d.find_element("id", "done").is_displayed(), "the end page")
        d.save_screenshot(str(tmp_path / "done.png"))
        d.find_element("id", "export-json").click()
        d.find_element("id", "export-csv").click()
        files = _wait(lambda: (lambda fs: fs if len(fs) == 2 else None)(
            sorted(p for p in downloads.iterdir() if p.suffix in (".json", ".csv"))), "the two downloads")
        # a reload of the end page still offers the answers
        d.refresh()
        _wait(lambda: d.find_element("id", "done").is_displayed(), "the end page after a reload")
        # the same rater id cannot start again in this browser
        d.find_element("id", "new-rater").click()
        d.find_element("id", "new-rater").click()
        _start(d, (study / "site" / "index.html").as_uri(), "rater-a")
        assert "already finished" in _wait(lambda: d.find_element("id", "start-error").text, "the refusal")
    finally:
        d.quit()

    exported = json.loads(files[1].read_text())
    assert exported["rater_id"] == "rater-a" and len(exported["answers"]) == n
    assert {(a["left"], a["right"]): a["answer"] for a in exported["answers"]} == given
    with open(files[0], newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["left"], r["right"]): int(r["answer"]) for r in rows} == given

    # the JSON and CSV exports of one session together: each answer counted once
    report = tmp_path / "report"
    r = _cli("study", "analyze", study, files[1], files[0], "--out", report)
    assert r.returncode == 0, r.stderr
    res = json.loads((report / "results.json").read_text())
    (pair,) = res["pairs"]
    assert (pair["x"], pair["y"], pair["n"], pair["strong_x"], pair["slight_y"]) == ("P", "N", 4, 4, 0)
    assert pair["p"] == pytest.approx(2 / 16)      # 4 of 4 decisive: two-sided 2 * 0.5**4
    assert [(c["x"], c["n"], c["slight_x"]) for c in res["appropriateness"]] == [("P matched", 1, 1),
                                                                                ("N matched", 1, 1)]
    assert res["answers_counted"] == n and res["raters"][0]["checks_failed"] == 0
    assert any("counted once" in note for note in res["notes"])
    assert (report / "preferences.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "P vs N" in (report / "report.md").read_text() and "<table>" in (report / "report.html").read_text()


def test_two_browsers_post_to_serve_at_once(study, key, tmp_path):
    db = tmp_path / "answers.sqlite"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-m", "engine", "study", "serve", str(study), "--port", "0",
                               "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()
        assert " at http://" in line, line + server.stderr.read()
        url = line.split(" at ")[1].split()[0]
        browsers = [_browser(tmp_path / "profile-0"), _browser(tmp_path / "profile-1")]
        errors: list[BaseException] = []

        def rate(d, rater: str) -> None:
            try:
                _start(d, url, rater)
                for i in range(len(key["trials"])):
                    _answer(d, key, keyboard=i % 2 == 0)
                _wait(lambda: "All answers so far are saved on the server" in d.find_element(
                    "id", "done-send-status").text, "the server to have every answer")
            except BaseException as exc:  # reported in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=rate, args=(d, f"lab-{k}")) for k, d in enumerate(browsers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        # a third browser using a rater id the server already has is told so before it starts
        third = _browser(tmp_path / "profile-2")
        try:
            _start(third, url, "lab-0")
            assert "already in use" in _wait(lambda: third.find_element("id", "start-error").text, "the refusal")
            assert third.find_element("id", "intro").is_displayed()
        finally:
            third.quit()
        exports = []
        for k, d in enumerate(browsers):
            p = tmp_path / f"lab-{k}.json"
            p.write_text(d.find_element("id", "export-text").get_property("value"))
            exports.append(p)
            d.quit()
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    n = len(key["trials"])
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 2
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT session_id || trial_id) FROM answers").fetchone() == (2 * n, 2 * n)
        assert con.execute("SELECT MAX(revisions) FROM answers").fetchone()[0] == 0

    # the database and both raters' own exports together: still 2 x n answers
    r = _cli("study", "analyze", study, db, *exports, "--out", tmp_path / "report")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "report" / "results.json").read_text())
    assert res["answers_counted"] == 2 * n
    (pair,) = res["pairs"]
    assert (pair["n"], pair["strong_x"]) == (8, 8) and pair["p"] == pytest.approx(2 * 0.5 ** 8)
    assert [r["agree"] for r in res["raters"]] == [4, 4]
    assert res["fleiss_kappa"] is None   # every answer in one category: chance agreement is 1, kappa undefined
