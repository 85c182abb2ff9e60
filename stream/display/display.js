// orstream OR display: WebRTC video, per-frame telemetry on a data channel, overlays drawn on
// a canvas over the video, live numbers, the echo LV curve, latency HUD, clinician feedback.
// Plain JS, no build step, no library. See docs/display.md.
"use strict";

const PARAMS = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const video = $("video");
const overlay = $("overlay");
const ctx = overlay.getContext("2d");
const COLORS = ["#4fc3f7", "#ffb74d", "#ba68c8", "#81c784", "#e57373", "#fff176"];
const KEEP = 300; // frames of latency and curve history
const TICKS = 2; // 90 kHz ticks by which a frame's RTP timestamp may differ from its pts

const S = {
  pc: null, channel: null, stream: null, streams: [],
  byPts: new Map(), votes: new Map(), offset: null, misses: 0,
  shown: null, frozen: null, overlays: true,
  added: [], total: [], matched: 0, frames: 0, frameTimes: [],
  viewer: { skipped: 0, skipped_telemetry: 0 }, unmatched: 0, pending: [], telemetryMs: [], log: [],
  curve: [], beats: [], trail: [],
  mode: null, polygon: [], label: 1,
};

// --- connection ---------------------------------------------------------------------------

async function connect(stream) {
  if (S.pc) S.pc.close();
  S.byPts.clear(); S.votes.clear(); S.offset = null; S.pending = []; S.curve = []; S.trail = [];
  S.stream = stream;
  const pc = new RTCPeerConnection({ iceServers: [] });
  S.pc = pc;
  const channel = pc.createDataChannel("telemetry", { ordered: false, maxPacketLifeTime: 1000 });
  channel.onmessage = (e) => onMessage(JSON.parse(e.data));
  S.channel = channel;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (e) => {
    // live video: no playout delay beyond what decoding needs
    if ("playoutDelayHint" in e.receiver) e.receiver.playoutDelayHint = 0;
    if ("jitterBufferTarget" in e.receiver) e.receiver.jitterBufferTarget = 0;
    video.srcObject = e.streams[0] || new MediaStream([e.track]); video.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    status(`connection ${pc.connectionState}`);
    // the engine restarted or the network dropped: try again while this is still the viewer's pc
    if (pc.connectionState === "failed") setTimeout(() => S.pc === pc && connect(S.stream), 2000);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    setTimeout(resolve, 2000);
  });
  const reply = await fetch("/api/offer", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", stream }),
  });
  if (!reply.ok) { status(`offer refused (${reply.status})`); return; }
  await pc.setRemoteDescription(await reply.json());
}

async function loadStreams() {
  const reply = await fetch("/api/streams", { credentials: "same-origin" });
  if (!reply.ok) { status(`streams: ${reply.status}`); return; }
  const { streams } = await reply.json();
  S.streams = streams;
  const nav = $("streams");
  nav.replaceChildren(...streams.map((name) => {
    const b = document.createElement("button");
    b.textContent = name;
    b.className = name === S.stream ? "active" : "";
    b.onclick = () => { connect(name); loadStreams(); };
    return b;
  }));
}

// --- telemetry and video frames -------------------------------------------------------------

function onMessage(msg) {
  if (msg.type === "viewer") { S.viewer = msg; return; }
  if (msg.type !== "frame") return;
  push(S.telemetryMs, Date.now() - msg.t_out_ns / 1e6);
  S.byPts.set(msg.pts, msg);
  if (S.byPts.size > 120) S.byPts.delete(S.byPts.keys().next().value);
  if (S.stream === null) { S.stream = msg.stream; loadStreams(); }
  if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) { show(msg); return; }
  if (S.offset === null) { vote(S.pending.map((f) => f.rtp), [msg.pts]); return; }
  // the telemetry of a frame already on screen (the data channel can lag the video)
  const rtp = (msg.pts + S.offset) >>> 0;
  const i = S.pending.findIndex((f) => Math.abs(((f.rtp - rtp) | 0)) <= TICKS);
  if (i >= 0) { const [frame] = S.pending.splice(i, 1); matched(frame, msg, i === S.pending.length); }
}

// The sender adds a random origin to RTP timestamps: find it from the spacing of timestamps
// (frames and telemetry that agree on one offset; video_pts tags make spacings distinct).
function vote(rtps, ptss) {
  for (const rtp of rtps) for (const pts of ptss) {
    for (const d of [-1, 0, 1]) {
      const off = (rtp - pts + d) >>> 0;
      S.votes.set(off, (S.votes.get(off) || 0) + 1);
    }
  }
  let best = null, bestN = 0, second = 0;
  for (const [off, n] of S.votes) if (n > bestN) { bestN = n; best = off; }
  for (const [off, n] of S.votes) if (Math.abs((off - best) | 0) > TICKS && n > second) second = n;
  if (bestN >= 3 && bestN > second) { S.offset = best; S.votes.clear(); S.misses = 0; }
  else if (S.votes.size > 50000) S.votes.clear();
}

// Telemetry of the frame with RTP timestamp rtp; the encoder may round its timestamp by a tick.
function telemetryOf(rtp) {
  const pts = (rtp - S.offset) >>> 0;
  for (const d of [0, -1, 1, -2, 2]) {
    const msg = S.byPts.get((pts + d) >>> 0);
    if (msg) return msg;
  }
  return null;
}

function matched(frame, msg, newest) {
  S.matched += 1; S.misses = 0;
  const added = frame.t - msg.t_out_ns / 1e6, total = frame.t - msg.t_capture_ns / 1e6;
  push(S.added, added);
  push(S.total, total);
  if (S.log.length < 100000) S.log.push([added, total]);
  if (newest && !S.frozen) show(msg);
}

function onVideoFrame(now, meta) {
  S.frames += 1;
  const t = performance.timeOrigin + meta.presentationTime;
  S.frameTimes.push(t);
  while (S.frameTimes.length && t - S.frameTimes[0] > 1000) S.frameTimes.shift();
  const rtp = meta.rtpTimestamp;
  if (rtp !== undefined) {
    const frame = { rtp, t };
    const msg = S.offset === null ? null : telemetryOf(rtp);
    if (msg) { S.misses = 0; matched(frame, msg, true); }
    else {
      if (S.offset === null) vote([rtp], [...S.byPts.keys()]);
      else if (++S.misses > 60) { S.offset = null; S.votes.clear(); }
      S.pending.push(frame);
      if (S.pending.length > 60) { S.pending.shift(); S.unmatched += 1; }
    }
  }
  video.requestVideoFrameCallback(onVideoFrame);
}

function push(list, value) { list.push(value); if (list.length > KEEP) list.shift(); }

function quantile(list, q) {
  if (!list.length) return null;
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// --- what the page shows --------------------------------------------------------------------

function show(msg) {
  S.shown = msg;
  $("modality").textContent = `${msg.modality} · ${msg.stream} · #${msg.seq}`;
  const tip = tipOf(msg);
  if (tip) { S.trail.push([tip.x_px, tip.y_px]); if (S.trail.length > 30) S.trail.shift(); }
  const lv = msg.results.lv;
  if (lv && lv.volume_discs_ml !== null) {
    S.curve.push({ seq: msg.seq, t: lv.t_s, v: lv.volume_discs_ml });
    while (S.curve.length && lv.t_s - S.curve[0].t > 6) S.curve.shift();
  }
  if (msg.results.beats) S.beats = msg.results.beats.beats || [];
  numbers(msg);
  draw(msg);
}

function tipOf(msg) {
  const r = msg.results;
  const tip = (r.tip) || (r.us && r.us.needle_tip);
  return tip && tip.found && tip.x_px !== null ? tip : null;
}

function fmt(value, digits, scale = 1) {
  return value === null || value === undefined ? "–" : (value * scale).toFixed(digits);
}

function numbers(msg) {
  const r = msg.results, items = [];
  if (r.lv !== undefined || r.beats) {
    const b = r.beats || {};
    items.push(["EF", fmt(b.ef, 0, 100), "%", b.ef === null || b.ef === undefined ? "" : b.ef < 0.4 ? "warn" : "ok"]);
    items.push(["Heart rate", fmt(b.heart_rate_bpm, 0), "bpm", ""]);
    items.push(["LV area", fmt(r.lv && r.lv.area_mm2, 1, 0.01), "cm²", ""]);
    items.push(["LV volume", fmt(r.lv && r.lv.volume_discs_ml, 0), "ml", ""]);
  }
  if (r.guidance) {
    const g = r.guidance;
    items.push(["Distance to target", fmt(g.distance_to_target_mm, 1), "mm", ""]);
    const state = String(g.state || "–").toUpperCase();
    items.push(["Gate", state, "", state === "ACTIVE" ? "ok" : "warn"]);
    const reason = g.reason && typeof g.reason === "object" ? g.reason.code : g.reason;
    if (reason) items.push(["Reason", String(reason).replace(/_/g, " "), "", ""]);
  }
  if (r.tip) {
    items.push(["Catheter tip", r.tip.found ? "found" : "lost", "", r.tip.found ? "ok" : "bad"]);
    items.push(["Tip confidence", fmt(r.tip.confidence, 0, 100), "%", ""]);
  }
  if (r.us) {
    const t = r.us.needle_tip;
    items.push(["Needle tip depth", t.found ? fmt(t.y_mm, 1) : "–", "mm", ""]);
    const d = r.us.tip_to_nerve_mm;
    items.push(["Tip to nearest nerve", fmt(d, 1), "mm", d === null ? "" : d < 2 ? "bad" : d < 5 ? "warn" : "ok"]);
  }
  $("numbers").replaceChildren(...items.map(([label, value, unit, cls]) => {
    const div = document.createElement("div");
    div.className = `number ${cls}`;
    div.dataset.label = label;
    div.innerHTML = '<div class="label"></div><span class="value"></span><span class="unit"></span>';
    div.children[0].textContent = label; div.children[1].textContent = value; div.children[2].textContent = unit;
    return div;
  }));
  plotCurve();
}

function fit(size) {
  const view = $("view").getBoundingClientRect();
  const scale = Math.min(view.width / size[0], view.height / size[1]);
  const stage = $("stage");
  stage.style.width = `${Math.floor(size[0] * scale)}px`;
  stage.style.height = `${Math.floor(size[1] * scale)}px`;
  if (overlay.width !== size[0] || overlay.height !== size[1]) { overlay.width = size[0]; overlay.height = size[1]; }
}

function draw(msg) {
  fit(msg.size);
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const lw = Math.max(1, overlay.width / 256);
  if (S.overlays) {
    let k = 0;
    for (const classes of Object.values(msg.contours)) {
      for (const [label, outlines] of Object.entries(classes)) {
        ctx.strokeStyle = COLORS[(k + Number(label) - 1) % COLORS.length];
        ctx.lineWidth = 1.5 * lw;
        for (const outline of outlines) path(outline, true);
      }
      k += 1;
    }
    if (S.trail.length > 1) { ctx.strokeStyle = "rgba(255,255,255,0.5)"; ctx.lineWidth = lw; path(S.trail, false); }
    const tip = tipOf(msg);
    if (tip) cross(tip.x_px, tip.y_px, "#ff5a5a", 6 * lw);
    const g = msg.results.guidance;
    const target = g && (g.target || (g.target_px && { x_px: g.target_px[0], y_px: g.target_px[1] }));
    if (target && Number.isFinite(target.x_px)) cross(target.x_px, target.y_px, "#46d369", 8 * lw);
  }
  if (S.polygon.length) { ctx.strokeStyle = "#fff176"; ctx.lineWidth = 2 * lw; path(S.polygon, S.mode !== "redraw"); }
}

function path(points, closed) {
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  if (closed) ctx.closePath();
  ctx.stroke();
}

function cross(x, y, color, r) {
  ctx.strokeStyle = color; ctx.lineWidth = r / 3;
  ctx.beginPath(); ctx.moveTo(x - r, y); ctx.lineTo(x + r, y); ctx.moveTo(x, y - r); ctx.lineTo(x, y + r); ctx.stroke();
}

function plotCurve() {
  const canvas = $("curve");
  canvas.hidden = S.curve.length < 2;
  if (canvas.hidden) return;
  const c = canvas.getContext("2d"), w = canvas.width, h = canvas.height, pad = 30;
  c.fillStyle = "#05070a"; c.fillRect(0, 0, w, h);
  const t0 = S.curve[0].t, t1 = S.curve[S.curve.length - 1].t;
  const vs = S.curve.map((p) => p.v);
  const lo = Math.min(...vs) * 0.9, hi = Math.max(...vs) * 1.1 || 1;
  const X = (t) => pad + ((t - t0) / Math.max(t1 - t0, 1e-6)) * (w - 2 * pad);
  const Y = (v) => h - 12 - ((v - lo) / Math.max(hi - lo, 1e-6)) * (h - 90);
  c.strokeStyle = "#4fc3f7"; c.lineWidth = 3; c.beginPath();
  S.curve.forEach((p, i) => (i ? c.lineTo(X(p.t), Y(p.v)) : c.moveTo(X(p.t), Y(p.v))));
  c.stroke();
  c.font = "20px system-ui"; c.fillStyle = "#7c8793";
  c.fillText(`LV volume ${lo.toFixed(0)}–${hi.toFixed(0)} ml, last ${(t1 - t0).toFixed(1)} s`, pad, 22);
  c.fillStyle = "#46d369"; c.fillText("● ED (with the beat's EF)", pad, 46);
  c.fillStyle = "#ffb74d"; c.fillText("● ES", pad + 260, 46);
  const bySeq = new Map(S.curve.map((p) => [p.seq, p]));
  c.font = "bold 18px system-ui"; c.textAlign = "center";
  for (const beat of S.beats) {
    const ed = near(bySeq, beat.ed_frame), es = near(bySeq, beat.es_frame);
    if (ed) {
      c.fillStyle = "#46d369"; c.beginPath(); c.arc(X(ed.t), Y(ed.v), 7, 0, 2 * Math.PI); c.fill();
      if (beat.ef !== null) { c.fillStyle = "#d8dde3"; c.fillText(`${(beat.ef * 100).toFixed(0)}%`, X(ed.t), Y(ed.v) - 12); }
    }
    if (es) { c.fillStyle = "#ffb74d"; c.beginPath(); c.arc(X(es.t), Y(es.v), 7, 0, 2 * Math.PI); c.fill(); }
  }
  c.textAlign = "start";
  $("beats").textContent = S.beats.length
    ? "beats EF: " + S.beats.map((b) => (b.ef === null ? "–" : `${(b.ef * 100).toFixed(0)}%`)).join(" · ") : "";
}

// The curve point of frame seq, or of the nearest frame within 3 (this viewer may skip frames).
function near(bySeq, seq) {
  for (const d of [0, -1, 1, -2, 2, -3, 3]) { const p = bySeq.get(seq + d); if (p) return p; }
  return null;
}

function hud() {
  const p = (list, q) => { const v = quantile(list, q); return v === null ? "–" : v.toFixed(0); };
  $("lat-p50").textContent = p(S.total, 0.5); $("lat-p99").textContent = p(S.total, 0.99);
  $("add-p50").textContent = p(S.added, 0.5); $("add-p99").textContent = p(S.added, 0.99);
  $("fps").textContent = S.frameTimes.length;
  $("drops").textContent = (S.viewer.skipped || 0) + (S.viewer.skipped_telemetry || 0);
}

function status(text) { $("status").textContent = text; }

// --- keyboard and feedback ------------------------------------------------------------------

function freeze(on) {
  S.frozen = on ? S.shown : null;
  S.mode = null; S.polygon = [];
  overlay.classList.remove("drawing");
  $("frozen").hidden = !on;
  if (on) { video.pause(); status(S.frozen ? `frozen on #${S.frozen.seq}: A accept, X reject, D redraw, T move tip` : "frozen"); }
  else { video.play().catch(() => {}); status("live"); }
}

function maskKey(msg) {
  const keys = Object.keys(msg.contours);
  return keys.find((k) => Object.keys(msg.contours[k]).length) || keys[0] || null;
}

async function sendFeedback(verdict, extra = {}) {
  const msg = S.frozen;
  if (!msg) return;
  const body = { stream: msg.stream, seq: msg.seq, verdict, ...extra };
  if ((verdict === "accept" || verdict === "redraw") && !body.mask) body.mask = maskKey(msg);
  const reply = await fetch("/api/feedback", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await reply.json().catch(() => ({}));
  status(reply.ok ? `feedback ${verdict} stored (${answer.stored})` : `feedback refused: ${answer.error || reply.status}`);
  S.mode = null; S.polygon = []; overlay.classList.remove("drawing");
  draw(msg);
}

function snapshot() {
  const msg = S.shown;
  if (!msg) return;
  const out = document.createElement("canvas");
  out.width = overlay.width; out.height = overlay.height;
  const c = out.getContext("2d");
  c.drawImage(video, 0, 0, out.width, out.height);
  c.drawImage(overlay, 0, 0);
  const link = document.createElement("a");
  link.download = `orstream-${msg.stream}-${msg.seq}.png`;
  link.href = out.toDataURL("image/png");
  link.click();
  status(`snapshot of #${msg.seq}`);
}

overlay.addEventListener("click", (e) => {
  if (!S.frozen || !S.mode) return;
  const box = overlay.getBoundingClientRect();
  const x = ((e.clientX - box.left) / box.width) * overlay.width;
  const y = ((e.clientY - box.top) / box.height) * overlay.height;
  if (S.mode === "tip") { sendFeedback("move_tip", { tip_px: [x, y] }); return; }
  S.polygon.push([x, y]);
  draw(S.frozen);
});

document.addEventListener("keydown", (e) => {
  const key = e.key.toLowerCase();
  if (key === "f") freeze(!S.frozen);
  else if (key === "s") snapshot();
  else if (key === "o") { S.overlays = !S.overlays; if (S.shown) draw(S.shown); }
  else if (key === "n" && S.streams.length) {
    const next = S.streams[(S.streams.indexOf(S.stream) + 1) % S.streams.length];
    connect(next).then(loadStreams);
  } else if (key === "escape") { if (S.mode) { S.mode = null; S.polygon = []; draw(S.frozen); } else if (S.frozen) freeze(false); }
  else if (!S.frozen) return;
  else if (key === "a") sendFeedback("accept");
  else if (key === "x") sendFeedback("reject");
  else if (key === "d") { S.mode = "redraw"; S.polygon = []; overlay.classList.add("drawing"); status(`redraw label ${S.label}: click the contour, Enter to send (1-9: label)`); }
  else if (key === "t") { S.mode = "tip"; overlay.classList.add("drawing"); status("click the tip"); }
  else if (S.mode === "redraw" && /^[1-9]$/.test(key)) { S.label = Number(key); status(`redraw label ${S.label}`); }
  else if (key === "enter" && S.mode === "redraw" && S.polygon.length >= 3) sendFeedback("redraw", { label: S.label, polygon_px: S.polygon });
});

window.addEventListener("resize", () => S.shown && draw(S.shown));

// For tests and benchmarks: what the page measured so far.
window.orstream = {
  state: S,
  stats: () => ({
    frames: S.frames, matched: S.matched, unmatched: S.unmatched, pending: S.pending.length, telemetry_ms: [...S.telemetryMs], added_ms: [...S.added], total_ms: [...S.total],
    shown: S.shown && { stream: S.shown.stream, seq: S.shown.seq, results: S.shown.results },
    numbers: Object.fromEntries([...document.querySelectorAll(".number")].map((d) => [d.dataset.label, d.querySelector(".value").textContent])),
    viewer: S.viewer,
  }),
  // every frame's [added, capture-to-display] latency (ms) since the last drain
  drain: () => { const log = S.log; S.log = []; return log; },
  freeze, sendFeedback,
};

if (PARAMS.has("token")) history.replaceState(null, "", "/");
if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) video.requestVideoFrameCallback(onVideoFrame);
setInterval(hud, 500);
setInterval(loadStreams, 5000);
loadStreams().then(() => connect(PARAMS.get("stream") || S.streams[S.streams.length - 1] || null));
