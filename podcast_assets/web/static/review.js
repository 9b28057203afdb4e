// Transcript review page: plain JavaScript over the JSON API (no build step). Text from the store is only ever
// put on the page with textContent or as a form value, so a transcript holding HTML shows as typed.
"use strict";

const $ = (id) => document.getElementById(id);
const LOW_CONFIDENCE = 0.6;
// the server's token, sent with every change: a page of another site cannot read it, so cannot make one
const TOKEN = document.querySelector('meta[name="review-token"]').content;
let entry = JSON.parse($("initial").textContent);
let history_ = { undo: [], redo: [], last: entry ? entry.text : "" };
let busy = false;

function filters() {
  return { pair: $("pair").value, status: $("status").value, order: $("order").value };
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  return q.toString();
}

function say(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.className = kind || "";
}

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (method !== "GET") init.headers["X-Review-Token"] = TOKEN;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    return { ok: false, status: 0, data: { detail: "the review server did not answer; your text is still in the box" } };
  }
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (err) { data = { detail: response.statusText }; }
  }
  return { ok: response.ok, status: response.status, data };
}

function fmt(seconds) { return (seconds || 0).toFixed(1); }

function counts() {
  const text = $("text").value;
  $("chars").textContent = String(text.length);
  $("word-count").textContent = String(text.trim() ? text.trim().split(/\s+/).length : 0);
}

function drawWaveform() {
  const canvas = $("waveform");
  if (!canvas || !entry) return;
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const peaks = entry.peaks || [];
  const audio = $("audio");
  const played = audio && audio.duration ? audio.currentTime / audio.duration : 0;
  const column = width / Math.max(peaks.length, 1);
  peaks.forEach((p, i) => {
    const h = Math.max(1, p * height);
    ctx.fillStyle = i / peaks.length < played ? "#2f8f5b" : "#8c96a3";
    ctx.fillRect(i * column, (height - h) / 2, Math.max(1, column - 1), h);
  });
}

function renderWords(words) {
  const box = $("words");
  box.textContent = "";
  for (const w of words) {
    const span = document.createElement("span");
    span.textContent = w.word;
    span.title = w.probability.toFixed(2);
    if (w.probability < LOW_CONFIDENCE) span.className = "low";
    box.append(span, " ");
  }
}

function renderHistory(items) {
  const list = $("history");
  list.textContent = "";
  for (const h of items || []) {
    const li = document.createElement("li");
    li.textContent = h.action === "edit" ? `${h.at}: “${h.old_text}” → “${h.new_text}”`
      : h.action === "type" ? `${h.at}: type ${h.old_text || "none"} → ${h.new_text || "none"}` : `${h.at}: ${h.action}`;
    list.append(li);
  }
}

async function refreshStats() {
  const { ok, data } = await api("GET", "/api/stats?" + query({ pair: $("pair").value }));
  if (!ok) return;
  const bar = $("progress-bar");
  bar.style.width = data.percent + "%";
  bar.setAttribute("aria-valuenow", String(data.reviewed));
  bar.setAttribute("aria-valuemax", String(data.total));
  $("progress-text").textContent = `${data.reviewed} / ${data.total} reviewed (${data.percent}%)`;
  refreshTraining();
}

function show(next) {
  if (!next) {
    say("No more entries here: change the filter, or every segment is reviewed.", "ok");
    return;
  }
  if (!$("text")) { // the page was rendered with no entry: load it whole
    window.location.search = query({ id: next.id, ...filters() });
    return;
  }
  entry = next;
  history_ = { undo: [], redo: [], last: entry.text };
  $("entry").dataset.id = String(entry.id);
  $("entry-id").textContent = String(entry.id);
  $("entry-pair").textContent = entry.pair_id;
  $("entry-span").textContent = `${fmt(entry.start)}–${fmt(entry.end)} s`;
  $("entry-duration").textContent = `${fmt(entry.duration)} s`;
  $("entry-volume").textContent = `${entry.rms_dbfs} dBFS`;
  $("entry-peak").textContent = String(entry.peak_dbfs);
  $("entry-confidence").textContent = String(entry.mean_confidence);
  $("entry-priority").textContent = entry.priority.toFixed(2);
  $("entry-state").textContent = entry.is_deleted ? "deleted" : entry.is_reviewed ? "reviewed" : "unreviewed";
  $("terms").textContent = entry.key_terms.length ? "Paper terms here: " + entry.key_terms.join(", ") : "";
  $("max-chars").textContent = String(entry.max_chars);
  $("text").value = entry.text;
  $("segment-type").value = entry.segment_type || "";
  renderWords(entry.words);
  renderHistory(entry.history);
  counts();
  const audio = $("audio");
  audio.pause();
  audio.src = `/api/entries/${entry.id}/audio`;
  $("play").textContent = "▶ Play";
  $("seek").value = "0";
  $("time").textContent = `0.0 / ${fmt(entry.duration)} s`;
  drawWaveform();
  history.replaceState(null, "", "/?" + query({ id: entry.id, ...filters() }));
}

async function load(id) {
  const { ok, data } = await api("GET", `/api/entries/${encodeURIComponent(id)}`);
  if (!ok) { say(data.detail, "error"); return false; }
  show(data);
  return true;
}

async function move(backwards, status) {
  const f = filters();
  const params = { ...f, status: status || f.status, after: entry ? entry.id : "", backwards: backwards ? "true" : "" };
  const { ok, status: code, data } = await api("GET", "/api/entries/next?" + query(params));
  if (!ok) { say(data.detail, "error"); return; }
  if (code === 204) { say("No more entries in this direction.", "ok"); return; }
  show(data);
}

function conflict(data) {
  say(data.detail + " Your text is still in the box; the entry was reloaded underneath it.", "error");
  if (data.current) {
    const mine = $("text").value;
    entry = data.current;
    $("entry-state").textContent = entry.is_deleted ? "deleted" : entry.is_reviewed ? "reviewed" : "unreviewed";
    $("text").value = mine;
    counts();
  }
}

async function save(reviewed, thenNext) {
  if (!entry || busy) return;
  busy = true;
  try {
    const body = { text: $("text").value, version: entry.version, segment_type: $("segment-type").value };
    if (reviewed !== undefined) body.reviewed = reviewed;
    const { ok, status, data } = await api("PUT", `/api/entries/${entry.id}`, body);
    if (!ok) {
      if (status === 409) conflict(data); else say(data.detail, "error");
      return;
    }
    const saved = data;
    say(`Saved entry ${saved.id}${saved.is_reviewed ? " (reviewed)" : ""}.`, "ok");
    await refreshStats();
    if (thenNext) {
      entry = saved;
      await move(false);
    } else {
      const keepUndo = history_;
      show(saved);
      history_ = keepUndo;
      history_.last = saved.text;
    }
  } finally {
    busy = false;
  }
}

async function markReviewed() {
  if (!entry || busy) return;
  const typed = $("segment-type").value !== (entry.segment_type || "");
  if ($("text").value !== entry.text || typed) { await save(true, false); return; }
  busy = true;
  try {
    const { ok, status, data } = await api("POST", `/api/entries/${entry.id}/review`, { version: entry.version, reviewed: true });
    if (!ok) { if (status === 409) conflict(data); else say(data.detail, "error"); return; }
    say(`Entry ${data.id} marked reviewed.`, "ok");
    show(data);
    await refreshStats();
  } finally {
    busy = false;
  }
}

async function remove() {
  if (!entry || busy) return;
  busy = true;
  try {
    const gone = entry.id;
    const { ok, status, data } = await api("DELETE", `/api/entries/${gone}?version=${entry.version}`);
    if (!ok) { if (status === 409) conflict(data); else say(data.detail, "error"); return; }
    await refreshStats();
    await move(false);
    say(`Deleted entry ${gone} (kept with status "deleted"; saving it again restores it).`, "ok");
  } finally {
    busy = false;
  }
}

// undo and redo: snapshots of the text box, one per pause in typing
function snapshot() {
  const text = $("text").value;
  if (text === history_.last) return;
  history_.undo.push(history_.last);
  history_.redo = [];
  history_.last = text;
}
let snapshotTimer = null;
function undo() {
  snapshot();
  if (!history_.undo.length) return;
  history_.redo.push($("text").value);
  history_.last = history_.undo.pop();
  $("text").value = history_.last;
  counts();
}
function redo() {
  if (!history_.redo.length) return;
  history_.undo.push($("text").value);
  history_.last = history_.redo.pop();
  $("text").value = history_.last;
  counts();
}

function togglePlay() {
  const audio = $("audio");
  if (!audio) return;
  if (audio.paused) {
    audio.play().catch(() => say(`Entry ${entry.id}'s audio cannot be played here.`, "error"));
  } else {
    audio.pause();
  }
}

function wire() {
  for (const id of ["pair", "status", "order"]) {
    $(id).addEventListener("change", async () => {
      entry = null;
      await refreshStats();
      await move(false);
    });
  }
  $("jump-go").addEventListener("click", () => load($("jump").value.trim()));
  $("jump").addEventListener("keydown", (e) => { if (e.key === "Enter") load($("jump").value.trim()); });
  if (!$("text")) return;
  const audio = $("audio");
  audio.addEventListener("play", () => { $("play").textContent = "❚❚ Pause"; });
  audio.addEventListener("pause", () => { $("play").textContent = "▶ Play"; });
  audio.addEventListener("timeupdate", () => {
    if (audio.duration) $("seek").value = String(Math.round((1000 * audio.currentTime) / audio.duration));
    $("time").textContent = `${fmt(audio.currentTime)} / ${fmt(entry.duration)} s`;
    drawWaveform();
  });
  audio.addEventListener("error", async () => {
    const { data } = await api("GET", `/api/entries/${entry.id}/audio`);
    say(data && data.detail ? data.detail : `Entry ${entry.id}'s audio cannot be played.`, "error");
  });
  $("seek").addEventListener("input", () => {
    if (audio.duration) audio.currentTime = (Number($("seek").value) / 1000) * audio.duration;
  });
  $("waveform").addEventListener("click", (e) => {
    const box = e.target.getBoundingClientRect();
    if (audio.duration) audio.currentTime = ((e.clientX - box.left) / box.width) * audio.duration;
  });
  $("play").addEventListener("click", togglePlay);
  $("save").addEventListener("click", () => save(undefined, false));
  $("save-next").addEventListener("click", () => save(true, true));
  $("mark").addEventListener("click", markReviewed);
  $("delete").addEventListener("click", remove);
  $("skip").addEventListener("click", () => move(false, "unreviewed"));
  $("prev").addEventListener("click", () => move(true));
  $("next").addEventListener("click", () => move(false));
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("text").addEventListener("input", () => {
    counts();
    clearTimeout(snapshotTimer);
    snapshotTimer = setTimeout(snapshot, 400);
  });
  document.addEventListener("keydown", (e) => {
    const inText = ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName);
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && e.key === "Enter") { e.preventDefault(); save(true, true); }
    else if (ctrl && e.key.toLowerCase() === "s") { e.preventDefault(); save(undefined, false); }
    else if (ctrl && e.key.toLowerCase() === "r") { e.preventDefault(); markReviewed(); }
    else if (ctrl && e.key.toLowerCase() === "d") { e.preventDefault(); remove(); }
    else if (ctrl && e.key.toLowerCase() === "z" && !e.shiftKey && document.activeElement === $("text")) { e.preventDefault(); undo(); }
    else if (ctrl && (e.key.toLowerCase() === "y" || (e.shiftKey && e.key.toLowerCase() === "z")) && document.activeElement === $("text")) { e.preventDefault(); redo(); }
    else if (!inText && e.key === " ") { e.preventDefault(); togglePlay(); }
    else if (!inText && e.key === "ArrowLeft") { e.preventDefault(); move(true); }
    else if (!inText && e.key === "ArrowRight") { e.preventDefault(); move(false); }
  });
  drawWaveform();
  if (entry) renderHistory(entry.history);
}

// the recogniser training panel: polled every 2 s while a run goes on
let trainingTimer = null;
async function refreshTraining() {
  if (!$("training")) return;
  const { ok, data } = await api("GET", "/api/training");
  if (!ok) return;
  $("train-ready").textContent = String(data.ready_for_training);
  $("train-model").textContent = data.current_model + (data.fine_tuned ? " (fine-tuned)" : "");
  const last = data.last_run;
  $("train-last").textContent = last
    ? `${last.run}: ${last.decision} (best epoch ${last.best_epoch}, ${last.seconds} s)`
    : "none yet";
  const p = data.progress;
  $("train-progress").textContent = data.running
    ? (p ? `running: epoch ${p.epoch}/${p.epochs}, step ${p.step}/${p.total_steps}, loss ${p.loss.toFixed(3)}` +
           (p.val_wer !== null ? `, held-out WER ${(100 * p.val_wer).toFixed(1)}%` : "") +
           `, about ${Math.round(p.eta_seconds)} s left` : "running: preparing the data")
    : (data.started_at ? `last started ${data.started_at}: finished` : "");
  $("train-start").disabled = data.running;
  $("train-log").textContent = data.log.join("\n");
  clearTimeout(trainingTimer);
  if (data.running) trainingTimer = setTimeout(refreshTraining, 2000);
}

function wireTraining() {
  if (!$("training")) return;
  $("train-start").addEventListener("click", async () => {
    const { ok, data } = await api("POST", "/api/training/runs");
    if (!ok) { say(data.detail, "error"); return; }
    say(`Fine-tuning started (process ${data.pid}).`, "ok");
    refreshTraining();
  });
  refreshTraining();
}

wire();
wireTraining();
