// The door page: polls the picture at the server's pace and the state once a second. Read-only.
"use strict";
const $ = (id) => document.getElementById(id);
let loading = false;

function row(table, name, value) {
  const tr = table.insertRow();
  tr.insertCell().textContent = name;
  tr.insertCell().textContent = value;
}

function fill(table, rows) {
  table.replaceChildren();
  for (const [name, value] of rows) row(table, name, value);
}

const ANSWER_WITHIN_MS = 3000;
/* A state older than this (no answer, an error, a timeout) means maskgate is not answering. */
let state = null;
let stateAt = 0;
let pictureAt = 0;
let pictureAge = 0;
let pictureUrl = null;
let failure = "";
const thumbs = new Map();
/* decision -> its face's <img>, kept while listed: the list is redrawn every second, the picture fetched once. */

async function get(path) {
  // a stopped process refuses at once, a frozen one accepts and never answers: both must fail, and soon
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ANSWER_WITHIN_MS);
  try {
    const answer = await fetch(path, { cache: "no-store", signal: abort.signal });
    if (answer.status === 401) { location.href = "/login"; throw new Error("logged out"); }
    return answer;
  } finally {
    clearTimeout(timer);
  }
}

async function refreshPicture() {
  if (loading) return;
  loading = true;
  try {
    const aim = $("aim").checked ? "1" : "0";
    const answer = await get("/frame.jpg?aim=" + aim);
    if (!answer.ok) { failure = "no picture (" + answer.status + ")"; return; }
    const blob = await answer.blob();
    pictureAge = parseFloat(answer.headers.get("X-Picture-Age") || "0");
    pictureAt = Date.now();
    const url = URL.createObjectURL(blob);
    $("frame").src = url;
    $("frame").dataset.aim = aim;
    if (pictureUrl) URL.revokeObjectURL(pictureUrl);
    pictureUrl = url;
  } catch (error) {
    failure = "picture: " + error.message;
  } finally {
    loading = false;
    showLiveness();
  }
}

function liveness() {
  /* [class, words]: the door is live only when maskgate answered lately, the camera gives frames and the
     picture shown is recent. */
  const now = Date.now();
  if (!state || now - stateAt > ANSWER_WITHIN_MS) {
    const since = stateAt ? Math.round((now - stateAt) / 1000) + " s" : "yet";
    return ["dead", "maskgate not answering " + (stateAt ? "for " + since : since)];
  }
  const camera = state.camera;
  if (camera.last_frame_age_s === null) return ["stalled", "starting: no frame from the camera yet"];
  if (camera.stalled_s !== null) {
    return ["stalled", "camera stalled " + Math.round(camera.stalled_s + (now - stateAt) / 1000) + " s"];
  }
  const shown = pictureAt ? pictureAge + (now - pictureAt) / 1000 : Infinity;
  const staleAfter = 2 + 2 / state.max_fps;
  if (shown > staleAfter) return ["stalled", pictureAt ? "picture " + Math.round(shown) + " s old" : "no picture yet"];
  return ["live", "live · " + state.fps.toFixed(1) + " FPS"];
}

function showLiveness() {
  const [kind, words] = liveness();
  const badge = $("live");
  badge.textContent = words;
  badge.className = "badge " + kind;
  badge.title = kind === "live" ? "" : failure;
  document.body.dataset.live = kind;
}

async function refreshState() {
  let s;
  try {
    const answer = await get("/state.json");
    if (!answer.ok) throw new Error("state " + answer.status);
    s = await answer.json();
  } catch (error) {
    failure = error.message;
    showLiveness();
    return;
  }
  state = s;
  stateAt = Date.now();
  failure = "";
  showLiveness();
  $("logout").hidden = !s.login;
  $("frame").alt = "the door camera: " + s.door.text;
  const list = $("decisions");
  const listed = new Set();
  list.replaceChildren();
  for (const d of s.decisions) {
    const li = document.createElement("li");
    li.className = "decision " + d.state;
    li.textContent = say(d.label) + (d.previous ? " (corrected: first read as " + say(d.previous) + ")" : "") + " ";
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = whenText(d.time);
    when.title = "score " + d.score.toFixed(2) + ", track " + d.track;
    li.append(when);
    if (d.thumb) li.prepend(thumbnail(d, listed));
    list.append(li);
  }
  for (const key of thumbs.keys()) if (!listed.has(key)) thumbs.delete(key);
  if (!s.decisions.length) list.innerHTML = '<li class="empty">none yet</li>';
  fill($("days"), s.days.map((d) => [dayText(d.day), countsText(d.counts)]));
  if (!s.days.length) fill($("days"), [["today", "nobody yet"]]);
  $("uptime").textContent = "maskgate " + s.version + ", running for " + duration(s.uptime_s);
  const counts = Object.entries(s.counts.decisions).map(([k, v]) => ["decided " + k, v]);
  fill($("loop"), [["FPS", s.fps], ["frames", s.counts.frames], ["faces", s.counts.faces],
    ["frame errors", s.counts.frame_errors], ...counts, ["up", s.uptime_s + " s"]]);
  fill($("stages"), Object.entries(s.stage_ms));
  const age = s.camera.last_frame_age_s;
  fill($("status"), [
    ["camera", age === null ? "no frame yet" : "last frame " + age + " s ago"],
    ["camera reconnects", s.camera.reconnects], ["camera dropped frames", s.camera.dropped_frames],
    ["change gate", s.gate.on ? (s.gate.skipping ? "skipping the detector" : "running the detector") : "off"],
    ["gate skipped frames", s.gate.skipped_frames],
    ["maskgate", s.models.maskgate],
    ["detector", s.models.detector + ": " + s.models.detector_model + " [" + s.models.detector_origin + "]"],
    ["classifier", s.models.classifier + " [" + s.models.classifier_origin + "] sha256 " + s.models.classifier_sha256],
    ["fast first", s.models.fast_first],
    ["labels", s.models.labels.join(", ")],
  ]);
  $("minface").textContent = s.aim.min_face_size;
  $("decideface").textContent = s.aim.small_face_size;
}

function thumbnail(d, listed) {
  // keyed by time too: a restarted maskgate numbers its decisions from 1 again
  const key = d.thumb + "@" + d.time;
  listed.add(key);
  if (!thumbs.has(key)) {
    const img = document.createElement("img");
    img.className = "thumb";
    img.src = d.thumb;
    img.alt = "face: " + say(d.label);
    thumbs.set(key, img);
  }
  return thumbs.get(key);
}

const WORDS = { mask: "mask", no_mask: "no mask", mask_incorrect: "mask below the nose", unsure: "unsure" };
function say(label) { return WORDS[label] || label.replace(/_/g, " "); }

function duration(seconds) {
  if (seconds < 90) return Math.round(seconds) + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return Math.floor(seconds / 3600) + " h " + Math.round((seconds % 3600) / 60) + " min";
  return Math.round(seconds / 86400) + " days";
}

function whenText(time) {
  const at = new Date(time * 1000);
  const ago = Math.max(0, (Date.now() - at) / 1000);
  const day = at.toDateString() === new Date().toDateString() ? "today" : at.toLocaleDateString();
  return day + " " + at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) +
    " (" + (ago < 60 ? "just now" : duration(ago) + " ago") + ")";
}

function dayText(day) {
  const today = new Date();
  const iso = (d) => d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
    String(d.getDate()).padStart(2, "0");
  if (day === iso(today)) return "today";
  today.setDate(today.getDate() - 1);
  return day === iso(today) ? "yesterday" : new Date(day + "T12:00").toLocaleDateString();
}

function countsText(counts) {
  return Object.entries(counts).map(([label, n]) => n + " " + say(label)).join(", ");
}

function aimFromUrl() { return new URLSearchParams(location.search).get("aim") === "1"; }

function setAim(on) {
  $("aim").checked = on;
  $("aimnote").hidden = !on;
}

async function refreshDoctor() {
  const answer = await get("/doctor.json");
  if (!answer.ok) return;
  const list = $("doctor");
  list.replaceChildren();
  for (const c of await answer.json()) {
    const li = document.createElement("li");
    li.className = c.ok === true ? "pass" : c.ok === false ? "fail" : "warning";
    li.textContent = c.name + ": " + c.detail + (c.fix ? " (fix: " + c.fix + ")" : "");
    list.append(li);
  }
}

setAim(aimFromUrl());
$("aim").addEventListener("change", () => {
  // kept in the address, so a reload or a bookmark keeps aim mode
  const url = new URL(location.href);
  if ($("aim").checked) url.searchParams.set("aim", "1"); else url.searchParams.delete("aim");
  history.replaceState(null, "", url);
  setAim($("aim").checked);
  refreshPicture();
});
refreshPicture();
refreshState();
refreshDoctor().catch(() => {});
setInterval(refreshPicture, 500);
setInterval(refreshState, 1000);
setInterval(showLiveness, 500);
