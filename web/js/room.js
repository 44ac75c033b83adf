// The room page: a commune's terminal signs in with its link, checks its camera and microphone,
// joins, watches the program and asks for the floor. This module enters the meeting and turns the
// meeting socket's snapshots and events into the room's state; the other room-*.js modules draw it.
import { MeetingClient } from "./meeting.js";
import { MediaLink, attach, meanColour } from "./media.js";
import { D, S, app, meetingId, notice, token } from "./room-common.js";
import { onAgendaItem, onPresent, onPresentStop, refreshAgenda, refreshSync, wireDocs } from "./room-docs.js";
import { lobby, stopMeter } from "./room-lobby.js";
import { render, wireActions } from "./room-view.js";
import { noteServerTime } from "./speaker-clock.js";
import { $, ask, errorText, fmtTime, toast } from "./ui.js";

window.confserver = {
  get state() { return S; },
  get docs() { return D; },
  get client() { return app.client; },
  get media() { return app.media; },
  get local() { return app.local; },
  get pc() { return app.media?.pc || null; },
  stats: () => (app.media ? app.media.stats() : Promise.resolve(null)),
  meanColour: (id = "program") => meanColour(document.getElementById(id)),
};

// ---- in the meeting -------------------------------------------------------------

function join() {
  if (S.joined) return;
  S.joined = true;
  stopMeter();
  $("#lobby").hidden = true;
  $("#meeting").hidden = false;
  attach($("#self-view"), app.local.videoTrack).catch(() => {});
  app.media = new MediaLink({
    send: (type, fields, opts) => app.client.request(type, fields, opts),
    onSlot: gotTrack,
    onState: showMedia,
  });
  app.media.setTracks(app.local.videoTrack, app.local.audioTrack);
  app.client = new MeetingClient({
    meetingId, token,
    handlers: { onSnapshot, onEvent, onStatus, onFatal },
  });
  app.client.connect();
  wireActions();
  $("#leave-btn").onclick = leave;
  wireDocs();
}

function onSnapshot(snap, { resync = false } = {}) {
  S.snapshot = snap;
  noteServerTime(snap.server_time);
  S.me = snap.me;
  S.state = snap.state;
  S.program = snap.program;
  S.queue = snap.queue || [];
  S.muted = new Set(snap.muted || []);
  S.rollCall = !!snap.roll_call_active;
  S.recording = snap.recording || { on: false, since: null };
  S.names.set(snap.me.room_id, snap.me.room_name);
  $("#room-name").textContent = snap.me.room_name;
  $("#self-caption").textContent = snap.me.room_name;
  // A fresh session (first join, or the server lost ours): (re)offer media.
  app.media.lowLayer = !!snap.low_layer;
  sendLowLayer();
  if (!resync || app.media.state !== "connected") app.media.start(snap.ice_servers || []);
  render();
  // A fresh session may have missed agenda and page changes: ask where the synced view is.
  if (!D.loaded) refreshAgenda();
  refreshSync();
}

// The room given the floor or broadcasting is the program's source: it sends the shared low layer (issue 15).
function sendLowLayer() {
  app.media.setLowSending(app.media.lowLayer && !!S.me && S.program?.source_room === S.me.room_id);
}

function onEvent(ev) {
  // Modules loaded on their own (host-delegates.js, room-delegates.js: issue 14) follow the meeting's events here.
  window.dispatchEvent(new CustomEvent("room:event", { detail: ev }));
  switch (ev.event) {
    case "program": S.program = ev; sendLowLayer(); break;
    case "queue": S.queue = ev.queue; break;
    case "muted": ev.muted ? S.muted.add(ev.room_id) : S.muted.delete(ev.room_id); break;
    case "state": S.state = ev.state; break;
    case "recording": S.recording = { on: ev.on, since: ev.since, failure: ev.failure }; break;
    case "roll_call":
      S.rollCall = ev.active;
      if (ev.active) S.answered = false;
      break;
    case "roll_call_mark":
      if (S.me && ev.room_id === S.me.room_id) S.answered = ev.status === "present_online" || ev.status === "present_in_person";
      break;
    case "agenda_item": onAgendaItem(ev); return;
    case "present": onPresent(ev); return;
    case "present_stop": onPresentStop(ev); return;
    case "agenda_published":
      refreshAgenda();
      $("#agenda-pub").textContent = `Phát hành ${fmtTime(ev.published_at)}`;
      if (D.tab !== "docs") $("#docs-dot").hidden = false;
      toast("Chương trình họp và tài liệu vừa được phát hành, cập nhật.", "ok", 8000);
      return;
    default: break;
  }
  render();
}

function onStatus(status, detail) {
  const badge = $("#conn-badge");
  const text = {
    connecting: ["Đang kết nối…", "warn"],
    joined: ["Đã kết nối", "ok"],
    reconnecting: [`Mất kết nối — đang thử lại${detail.attempt ? ` (lần ${detail.attempt})` : ""}`, "bad"],
    waiting: ["Chờ cuộc họp mở", "warn"],
    closed: ["Đã ngắt", "bad"],
  }[status] || [status, ""];
  badge.textContent = text[0];
  badge.className = `badge ${text[1]}`;
  $("#st-conn").textContent = text[0];
  if (status === "waiting") {
    // Dropped by the chair: the server's explanation (wait to be let back); the page joins by itself when it may.
    if (detail.code === "room_dropped") badge.textContent = $("#st-conn").textContent = "Chờ chủ trì cho vào lại";
    $("#program-wait").textContent = detail.code === "room_dropped" ? detail.message
      : "Cuộc họp chưa mở. Trang sẽ tự vào họp khi đơn vị chủ trì bắt đầu chạy thử.";
    $("#program-wait").hidden = false;
  }
  if (status === "joined" && detail.resumed && app.media && app.media.state === "retrying") app.media.start();
  render(); // "Xin phát biểu" says why it cannot be used while waiting or reconnecting
}

function onFatal(code, message) {
  app.media?.close();
  app.local.close();
  const title = {
    dropped: "Phòng đã bị ngắt khỏi cuộc họp",
    ended: "Cuộc họp đã kết thúc",
    replaced: "Phòng đã vào họp từ máy khác",
    left: "Đã rời cuộc họp",
    meeting_ended: "Cuộc họp đã kết thúc",
  }[code] || "Không vào được cuộc họp";
  const more = code === "dropped" ? " Phòng chỉ vào lại được khi chủ trì cho phép: bấm “Vào lại” để chờ, trang sẽ tự vào họp khi được cho vào lại." : code === "replaced" ? " Trang này đã dừng để tránh hai máy cùng một phòng." : "";
  notice(title, (message || "") + more, code === "left" || code === "dropped" || code === "replaced" ? "Vào lại" : null);
}

function gotTrack(kind, index, track) {
  if (kind === "video" && index === 0) {
    const v = $("#program");
    attach(v, track).catch(() => {});
    const wait = $("#program-wait");
    v.onresize = v.onplaying = () => { if (v.videoWidth) wait.hidden = true; };
  } else if (kind === "audio") {
    const a = index === 0 ? $("#audio-chair") : $("#audio-floor");
    attach(a, track).then(() => { $("#st-audio").textContent = "Đang phát"; }).catch(() => audioBlocked(a));
  }
}

function audioBlocked(a) {
  $("#st-audio").textContent = "Trình duyệt chặn tiếng";
  notice("Bấm để nghe tiếng", "Trình duyệt cần một lần bấm để phát âm thanh cuộc họp.", "Bật âm thanh", () => {
    a.play().then(() => { $("#st-audio").textContent = "Đang phát"; }).catch(() => {});
    $("#audio-chair").play().catch(() => {});
    $("#notice").hidden = true;
  });
}

function showMedia(state) {
  $("#st-media").textContent = {
    connecting: "Đang kết nối…", connected: "Tốt", retrying: "Đang kết nối lại…", closed: "Đã dừng", idle: "—",
  }[state] || state;
}

async function leave() {
  if (!(await ask({ title: "Rời cuộc họp?", body: "Phòng sẽ không còn trong cuộc họp cho đến khi vào lại.", confirm: "Rời cuộc họp", danger: true }))) return;
  await app.client.leave();
  onFatal("left", "Phòng đã rời cuộc họp.");
}

// A fault of the page that nothing caught still gets a Vietnamese explanation, not silence (issue 12, item 12).
let lastFault = 0;
function pageFault(err) {
  if (Date.now() - lastFault < 10000) return;
  lastFault = Date.now();
  toast(errorText(err), "error", 8000);
}
window.addEventListener("error", (e) => pageFault(e.error || e.message));
window.addEventListener("unhandledrejection", (e) => pageFault(e.reason));

lobby(join);
