/* Parley perceptual study: the survey page's logic. Plain JavaScript, no build step, no network except the
 * optional POST of the answers (window.PARLEY_CONFIG.post_url).
 *
 * window.PARLEY_STUDY (study.js, written by `parley study make`) lists the trials with blinded stimulus ids.
 * Each rater gets an order shuffled by a generator seeded with the study and rater ids, and half of the
 * raters (by the same seed) see every trial mirrored, so the sides are counterbalanced across raters too.
 * Everything the rater does is saved in localStorage at once: a reload comes back to the same clip with
 * every answer kept. The answers record which stimulus was on each side, so the analysis unblinds them
 * whatever the order and sides were.
 */
(function () {
  "use strict";

  var STUDY = window.PARLEY_STUDY;
  var CONFIG = window.PARLEY_CONFIG || {};
  var FORMAT = "parley-study-responses";
  var VERSION = 1;
  var STORE_KEY = "parley-study:" + STUDY.study_id;
  var FINISHED_KEY = STORE_KEY + ":finished-raters";
  var RATER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/;
  var SYNC_TOLERANCE_S = 0.1;   // a video further than this from the audio is moved back onto it
  var CSV_COLUMNS = ["study_id", "rater_id", "session_id", "trial_id", "left", "right", "answer", "plays",
                     "time_ms", "answered_at"];

  var $ = function (id) { return document.getElementById(id); };
  var els = {
    intro: $("intro"), trial: $("trial"), done: $("done"), startForm: $("start-form"), consent: $("consent"),
    rater: $("rater"), startError: $("start-error"), progress: $("progress"), progressText: $("progress-text"),
    question: $("question"), left: $("video-left"), right: $("video-right"),
    audio: $("audio"), play: $("play"), playHint: $("play-hint"), answerForm: $("answer-form"), next: $("next"),
    sendStatus: $("send-status"), doneText: $("done-text"), doneSend: $("done-send-status"),
    sendAgain: $("send-again"), exportText: $("export-text"), newRater: $("new-rater"), start: $("start")
  };
  var radios = Array.prototype.slice.call(document.querySelectorAll("input[name=answer]"));
  var trialsById = {};
  STUDY.trials.forEach(function (t) { trialsById[t.id] = t; });

  // ---------------------------------------------------------------------------------------------- storage
  var memory = {};
  var storage = (function () {
    try {
      var probe = STORE_KEY + ":probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      $("storage-warning").hidden = false;
      return { getItem: function (k) { return k in memory ? memory[k] : null; },
               setItem: function (k, v) { memory[k] = String(v); },
               removeItem: function (k) { delete memory[k]; } };
    }
  })();

  function readJson(key, fallback) {
    try { var v = JSON.parse(storage.getItem(key)); return v === null ? fallback : v; } catch (e) { return fallback; }
  }
  var state = readJson(STORE_KEY, null);
  function save() { storage.setItem(STORE_KEY, JSON.stringify(state)); }

  // ---------------------------------------------------------------------------------------------- order
  function hash32(text) {            // FNV-1a
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    return h >>> 0;
  }
  function generator(seed) {         // mulberry32
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6D2B79F5) >>> 0;
      var t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function raterOrder(raterId) {
    var rand = generator(hash32(STUDY.study_id + "|" + raterId));
    var ids = STUDY.trials.map(function (t) { return t.id; });
    for (var i = ids.length - 1; i > 0; i--) {
      var j = Math.floor(rand() * (i + 1));
      var x = ids[i]; ids[i] = ids[j]; ids[j] = x;
    }
    return { order: ids, mirrored: rand() < 0.5 };
  }
  function randomHex(bytes) {
    var a = new Uint8Array(bytes);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // ---------------------------------------------------------------------------------------------- screens
  function show(section) {
    [els.intro, els.trial, els.done].forEach(function (s) { s.hidden = s !== section; });
  }

  function showIntro() {
    show(els.intro);
    var fromUrl = new URLSearchParams(window.location.search).get("rater");
    if (fromUrl && !els.rater.value) { els.rater.value = fromUrl; }
  }

  function currentTrial() { return trialsById[state.order[state.index]]; }
  function sides(trial) {
    return state.mirrored ? { left: trial.right, right: trial.left } : { left: trial.left, right: trial.right };
  }

  function showTrial(focus) {
    var trial = currentTrial();
    var s = sides(trial);
    show(els.trial);
    stopPlayback();
    els.left.src = STUDY.media[s.left];
    els.right.src = STUDY.media[s.right];
    els.audio.src = STUDY.media[trial.audio];
    var n = state.order.length;
    els.progress.max = n;
    els.progress.value = state.index;
    els.progressText.textContent = "Clip " + (state.index + 1) + " of " + n;
    var prior = state.answers[trial.id];
    radios.forEach(function (r) { r.checked = prior !== undefined && Number(r.value) === prior.answer; });
    state.shownAt = Date.now();
    save();
    updateAnswerable();
    if (focus) { els.question.focus(); }
  }

  function played(trial) { return (state.plays[trial.id] || 0) > 0; }

  function updateAnswerable() {
    var trial = currentTrial();
    var can = !STUDY.require_playback || played(trial);
    radios.forEach(function (r) { r.disabled = !can; });
    els.playHint.hidden = can;
    els.next.disabled = !(can && state.answers[trial.id] !== undefined);
    els.play.textContent = (state.plays[trial.id] || 0) > 0 || (state.started[trial.id] || 0) > 0 ? "Replay" : "Play";
  }

  function showDone(focus) {
    show(els.done);
    stopPlayback();
    var n = Object.keys(state.answers).length;
    els.doneText.textContent = "You answered all " + n + " clips as rater " + state.rater_id +
      ". Please download your answers" + (CONFIG.post_url ? " (they are also sent to the study's server)" : "") +
      " and give the file to the experimenter.";
    els.exportText.value = JSON.stringify(exportJson(), null, 1);
    updateSendStatus();
    if (focus) { $("done-title").focus(); }
  }

  // ---------------------------------------------------------------------------------------------- playback
  var syncTimer = null;
  function stopPlayback() {
    [els.audio, els.left, els.right].forEach(function (m) { try { m.pause(); } catch (e) { /* not loaded */ } });
    if (syncTimer !== null) { window.clearInterval(syncTimer); syncTimer = null; }
  }
  function syncVideos() {
    var t = els.audio.currentTime;
    [els.left, els.right].forEach(function (v) {
      if (!isFinite(v.duration) || t >= v.duration) { return; }
      if (Math.abs(v.currentTime - t) > SYNC_TOLERANCE_S) { v.currentTime = t; }
      if (v.paused && !els.audio.paused) { v.play().catch(function () {}); }
    });
  }
  function play() {
    if (els.trial.hidden) { return; }
    var trial = currentTrial();
    stopPlayback();
    [els.audio, els.left, els.right].forEach(function (m) { m.currentTime = 0; });
    state.started[trial.id] = (state.started[trial.id] || 0) + 1;
    save();
    updateAnswerable();
    var all = [els.left.play(), els.right.play(), els.audio.play()];
    Promise.all(all).catch(function (e) { els.sendStatus.textContent = "Could not play the clip: " + e.message; });
    syncTimer = window.setInterval(syncVideos, 100);
  }
  els.audio.addEventListener("ended", function () {
    if (!state || els.trial.hidden) { return; }
    var trial = currentTrial();
    stopPlayback();
    state.plays[trial.id] = (state.plays[trial.id] || 0) + 1;
    save();
    updateAnswerable();
  });
  els.play.addEventListener("click", play);

  // ---------------------------------------------------------------------------------------------- answers
  function record(value) {
    var trial = currentTrial();
    var s = sides(trial);
    state.answers[trial.id] = {
      trial_id: trial.id, left: s.left, right: s.right, answer: value, plays: state.plays[trial.id] || 0,
      time_ms: Math.max(0, Date.now() - (state.shownAt || Date.now())), answered_at: new Date().toISOString()
    };
    delete state.sent[trial.id];
    save();
    updateAnswerable();
  }
  radios.forEach(function (r) {
    r.addEventListener("change", function () { if (r.checked) { record(Number(r.value)); } });
  });

  function next() {
    var trial = currentTrial();
    if (els.next.disabled || state.answers[trial.id] === undefined) { return; }
    state.index += 1;
    if (state.index >= state.order.length) {
      state.finished = true;
      var used = readJson(FINISHED_KEY, []);
      if (used.indexOf(state.rater_id) < 0) { used.push(state.rater_id); }
      storage.setItem(FINISHED_KEY, JSON.stringify(used));
      save();
      showDone(true);
    } else {
      save();
      showTrial(true);
    }
    flush();
  }
  els.answerForm.addEventListener("submit", function (e) { e.preventDefault(); next(); });

  document.addEventListener("keydown", function (e) {
    if (!state || els.trial.hidden || e.altKey || e.ctrlKey || e.metaKey) { return; }
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "TEXTAREA" || (tag === "INPUT" && e.target.type === "text")) { return; }
    if (e.key >= "1" && e.key <= "5") {
      var r = radios[Number(e.key) - 1];
      if (!r.disabled) { r.checked = true; r.focus(); record(Number(r.value)); }
      e.preventDefault();
    } else if (e.key === " " || e.key === "Spacebar") {
      if (tag !== "BUTTON") { e.preventDefault(); play(); }
    } else if (e.key === "Enter") {
      if (tag !== "BUTTON") { e.preventDefault(); next(); }
    }
  });

  // ---------------------------------------------------------------------------------------------- start
  els.startForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var rater = els.rater.value.trim();
    if (!els.consent.checked) { return fail("Please tick the box to agree before you start.", els.consent); }
    if (!RATER_PATTERN.test(rater)) {
      return fail("Enter the rater id you were given: 1 to 40 letters, digits, '-', '_' or '.'.", els.rater);
    }
    if (readJson(FINISHED_KEY, []).indexOf(rater) >= 0) {
      return fail("Rater id " + rater + " has already finished this study on this device; ask the experimenter " +
                  "for a new id.", els.rater);
    }
    var o = raterOrder(rater);
    var fresh = { format: FORMAT, version: VERSION, study_id: STUDY.study_id, rater_id: rater,
                  session_id: randomHex(16), consented_at: new Date().toISOString(), order: o.order,
                  mirrored: o.mirrored, index: 0, answers: {}, plays: {}, started: {}, sent: {},
                  finished: false, shownAt: null };
    els.start.disabled = true;
    els.startError.textContent = "";
    register(fresh).then(function (problem) {
      els.start.disabled = false;
      if (problem) { return fail(problem, els.rater); }
      state = fresh;
      save();
      showTrial(true);
    });
  });
  function fail(message, focus) {
    els.startError.textContent = message;
    if (focus) { focus.focus(); }
  }

  // ---------------------------------------------------------------------------------------------- sending
  var sending = null, sendAgain = false;
  function post(body) {
    return window.fetch(CONFIG.post_url, { method: "POST", headers: { "Content-Type": "application/json" },
                                           body: JSON.stringify(body), credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (d) { return { status: r.status, data: d }; });
      });
  }
  function envelope(s, answers) {
    return { format: FORMAT, version: VERSION, study_id: STUDY.study_id, rater_id: s.rater_id,
             session_id: s.session_id, consented_at: s.consented_at, user_agent: navigator.userAgent,
             answers: answers };
  }
  // a new session is announced to the server first, which refuses a rater id another session holds
  function register(s) {
    if (!CONFIG.post_url) { return Promise.resolve(null); }
    return post(envelope(s, [])).then(function (r) {
      if (r.status === 409) { return r.data.error || "This rater id is already in use; ask the experimenter."; }
      return null;
    }, function () { return null; });  // offline: the answers are kept and sent later
  }
  function unsent() {
    return Object.keys(state.answers).filter(function (k) { return !state.sent[k]; })
      .map(function (k) { return state.answers[k]; });
  }
  function flush() {
    if (!CONFIG.post_url || !state) { return Promise.resolve(); }
    if (sending) { sendAgain = true; return sending; }
    var batch = unsent();
    if (!batch.length) { updateSendStatus(); return Promise.resolve(); }
    var s = state;
    sending = post(envelope(s, batch)).then(function (r) {
      if (r.status === 200) {
        batch.forEach(function (a) {
          var now = s.answers[a.trial_id];
          if (now && now.answered_at === a.answered_at && now.answer === a.answer) { s.sent[a.trial_id] = true; }
        });
        s.lastSendError = null;
      } else {
        s.lastSendError = (r.data && r.data.error) || ("the server answered " + r.status);
      }
      if (s === state) { save(); }
    }, function (err) {
      s.lastSendError = "the server could not be reached (" + err.message + ")";
      if (s === state) { save(); }
    }).then(function () {
      sending = null;
      updateSendStatus();
      if (sendAgain) { sendAgain = false; return flush(); }
    });
    return sending;
  }
  function updateSendStatus() {
    if (!CONFIG.post_url || !state) { els.sendStatus.textContent = els.doneSend.textContent = ""; return; }
    var waiting = unsent().length;
    var text = waiting === 0 ? "All answers so far are saved on the server." :
      waiting + " answer" + (waiting === 1 ? " is" : "s are") + " not yet on the server" +
      (state.lastSendError ? ": " + state.lastSendError : "") + ". They are kept here and sent again.";
    els.sendStatus.textContent = text;
    els.doneSend.textContent = text;
    els.sendAgain.hidden = waiting === 0;
  }
  els.sendAgain.addEventListener("click", function () { flush(); });

  // ---------------------------------------------------------------------------------------------- export
  function answerList() {
    return state.order.filter(function (k) { return state.answers[k] !== undefined; })
      .map(function (k) { return state.answers[k]; });
  }
  function exportJson() { return envelope(state, answerList()); }
  function csvCell(v) {
    var s = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function exportCsv() {
    var rows = [CSV_COLUMNS.join(",")];
    answerList().forEach(function (a) {
      var row = { study_id: STUDY.study_id, rater_id: state.rater_id, session_id: state.session_id };
      rows.push(CSV_COLUMNS.map(function (c) { return csvCell(c in row ? row[c] : a[c]); }).join(","));
    });
    return rows.join("\r\n") + "\r\n";
  }
  function download(text, type, suffix) {
    var blob = new Blob([text], { type: type });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "parley-study-" + STUDY.study_id + "-" + state.rater_id + suffix;
    document.body.appendChild(a);
    a.click();
    window.setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  $("export-csv").addEventListener("click", function () { download(exportCsv(), "text/csv", ".csv"); });
  $("export-json").addEventListener("click", function () {
    download(JSON.stringify(exportJson(), null, 1) + "\n", "application/json", ".json");
  });

  var confirmNew = false;
  els.newRater.addEventListener("click", function () {
    if (!confirmNew) {
      confirmNew = true;
      els.newRater.textContent = "Press again: this rater's answers leave this page (download them first)";
      return;
    }
    confirmNew = false;
    els.newRater.textContent = "Start a new rater on this device";
    storage.removeItem(STORE_KEY);
    state = null;
    els.rater.value = "";
    els.consent.checked = false;
    showIntro();
    els.rater.focus();
  });

  // ---------------------------------------------------------------------------------------------- boot
  document.title = STUDY.title;
  $("title").textContent = STUDY.title;
  els.question.textContent = STUDY.question;
  if (!STUDY.require_playback) { els.playHint.hidden = true; }
  if (state && (state.study_id !== STUDY.study_id || !Array.isArray(state.order) ||
                state.order.length !== STUDY.trials.length ||
                !state.order.every(function (k) { return k in trialsById; }))) {
    state = null;   // left by another version of this study
  }
  if (!state) { showIntro(); }
  else if (state.finished) { showDone(false); flush(); }
  else { showTrial(false); flush(); }
})();
