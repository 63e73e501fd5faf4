// The door page: polls the picture at the server's pace and the state once a second. Read-only.
"use strict";
const $ = (id) => document.getElementById(id);
let lastSeq = null;
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

function refreshPicture() {
  if (loading) return;
  loading = true;
  const img = new Image();
  img.onload = () => { $("frame").src = img.src; loading = false; };
  img.onerror = () => { loading = false; };
  img.src = "/frame.jpg?aim=" + ($("aim").checked ? 1 : 0) + "&t=" + Date.now();
}

async function refreshState() {
  const answer = await fetch("/state.json", { cache: "no-store" });
  if (answer.status === 401) { location.href = "/login"; return; }
  const s = await answer.json();
  $("logout").hidden = !s.login;
  const door = $("door");
  door.textContent = s.door.text;
  door.className = "door " + (s.door.state || "");
  const list = $("decisions");
  list.replaceChildren();
  for (const d of s.decisions) {
    const li = document.createElement("li");
    li.className = "decision " + d.state;
    li.textContent = new Date(d.time * 1000).toLocaleTimeString() + "  " + d.label +
      (d.previous ? " (corrected from " + d.previous + ")" : "") +
      " (" + d.score.toFixed(2) + ", track " + d.track + ")";
    list.append(li);
  }
  if (!s.decisions.length) list.innerHTML = '<li class="empty">none yet</li>';
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
  const note = $("aimnote");
  note.hidden = !$("aim").checked;
  note.textContent = "Faces under " + s.aim.min_face_size + " px wide are not found; under " +
    s.aim.small_face_size + " px they are classified less well (marked 'too small'). " +
    "Aim so that faces at the door are at least as wide as the white square.";
  if (s.picture && s.picture.seq !== lastSeq) { lastSeq = s.picture.seq; }
}

async function refreshDoctor() {
  const answer = await fetch("/doctor.json", { cache: "no-store" });
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

function tick() { refreshState().catch(() => {}); }
$("aim").addEventListener("change", refreshPicture);
refreshPicture();
tick();
refreshDoctor().catch(() => {});
setInterval(refreshPicture, 500);
setInterval(tick, 1000);
