// The host console: the chair's operator runs the meeting from here. This module starts the page and
// turns the meeting socket's snapshots and events into the other console modules' state and drawing.
import { MeetingClient, api } from "./meeting.js";
import { meanColour } from "./media.js";
import { H, S, app, log, meetingId, nameOf, notice } from "./host-common.js";
import { freshSync, followPresent, refreshAgenda, refreshSync, renderDocs, wireDocs } from "./host-docs.js";
import { showLinks } from "./host-links.js";
import { startMedia, wireMedia } from "./host-media.js";
import { buildTiles, renderTiles, scheduleMultiview, stopScan, wireMultiview } from "./host-multiview.js";
import { onRecordingEvent, renderRecording, setRecording, wireRecording } from "./host-recording.js";
import { renderAll, renderProgram, renderQueue, renderRollCall, renderState, showSummary, tickClock, wirePanels } from "./host-panels.js";
import { applyFilter, buildRows, onAdmission, updateConn, updateQuality, updateRow, wireRooms } from "./host-rooms.js";
import { loadUnits } from "./host-districts.js";
import { onPresence, restoreLost, syncLost, wireLost } from "./host-lost.js";
import { leaveText, muteText, presentLeaveText, restoreFromTimeline } from "./host-timeline.js";
import { $, STATE_LABEL, el, errorText, fmtTime, toast } from "./ui.js";
import { wireConsoleClock } from "./host-clock.js"; // the speaker's clock (issue 12, item 10)
import { renderTiers } from "./host-tiers.js"; // each room's tier (issue 15)
import { noteServerTime } from "./speaker-clock.js";

// Rooms that lose and regain their socket within the grace period send no event:
// re-read who is connected now and then.
const PRESENCE_REFRESH_MS = 15000;

window.confserver = {
  get state() { return S; },
  get docs() { return H; },
  get client() { return app.client; },
  get media() { return app.media; },
  get pc() { return app.media?.pc || null; },
  stats: () => (app.media ? app.media.stats() : Promise.resolve(null)),
  meanColour: (id) => meanColour(document.getElementById(id)),
};

// ---- start -----------------------------------------------------------------------

async function main() {
  let meetings;
  try {
    meetings = await api("/api/meetings");
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
      return;
    }
    return notice("Không kết nối được máy chủ", errorText(err, "tải danh sách cuộc họp"));
  }
  if (!meetingId) return listMeetings(meetings);
  try {
    S.meeting = await api(`/api/meetings/${meetingId}`);
  } catch (err) {
    return notice("Không mở được cuộc họp", errorText(err, "mở cuộc họp"));
  }
  const m = S.meeting;
  document.title = `${m.title} — Điều hành`;
  $("#meeting-title").textContent = m.title;
  $("#meeting-sub").textContent = `Chủ trì: ${m.host_unit_name} · ${fmtTime(m.scheduled_start)} · ${m.invited_rooms} điểm cầu`;
  S.startedAt = m.started_at ? new Date(m.started_at) : null;
  $("#console").hidden = false;
  $("#top-actions").hidden = false;
  await loadUnits(); // which district each room is in, for the rooms' table
  buildTiles();
  wireControls();
  setInterval(tickClock, 1000);
  setInterval(refreshPresence, PRESENCE_REFRESH_MS);
  app.client = new MeetingClient({ meetingId, handlers: { onSnapshot, onEvent, onStatus, onStats, onFatal } });
  app.client.connect();
}

function listMeetings(meetings) {
  $("#meeting-list").hidden = false;
  const body = $("#meeting-rows");
  if (!meetings.length) {
    body.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "Chưa có cuộc họp nào trong phạm vi của bạn.")));
  }
  for (const m of meetings) {
    body.append(el("tr", {},
      el("td", {}, el("strong", {}, m.title)),
      el("td", {}, m.host_unit_name),
      el("td", { class: "nowrap" }, fmtTime(m.scheduled_start)),
      el("td", {}, m.invited_rooms),
      el("td", {}, el("span", { class: `badge state-${m.state}` }, STATE_LABEL[m.state] || m.state)),
      el("td", {}, m.state === "ended" ? "" : el("a", { class: "btn btn-primary btn-sm", href: `/web/host.html?meeting=${m.id}` }, "Điều hành"))));
  }
}

// ---- signaling -----------------------------------------------------------------------

function onSnapshot(snap, { resync = false } = {}) {
  noteServerTime(snap.server_time);
  S.me = snap.me;
  S.state = snap.state;
  S.program = snap.program;
  S.queue = snap.queue || [];
  S.muted = new Set(snap.muted || []);
  S.online = new Set(snap.online || []);
  S.rollCall = !!snap.roll_call_active;
  S.rooms = new Map(snap.rooms.map((r) => [r.room_id, r]));
  S.order = snap.rooms.map((r) => r.room_id);
  buildRows();
  renderAll();
  syncLost();
  // After a reload the log, the roll-call summary and the rooms lost come back from the timeline; after the
  // console's own reconnection, the rooms lost meanwhile.
  restoreFromTimeline().then((rows) => rows && restoreLost(rows));
  setRecording(snap.recording);
  if (!resync || app.media?.state !== "connected") startMedia(snap.ice_servers || [], !!snap.low_layer);
  if (!H.loaded) refreshAgenda();
  refreshSync();
}

function onEvent(ev) {
  // Modules loaded on their own (host-delegates.js, room-delegates.js: issue 14) follow the meeting's events here.
  window.dispatchEvent(new CustomEvent("host:event", { detail: ev }));
  const room = S.rooms.get(ev.room_id);
  switch (ev.event) {
    case "presence":
      if (ev.online) S.online.add(ev.room_id); else S.online.delete(ev.room_id);
      if (room) room.reconnecting = false;
      if (ev.room_id !== S.me?.room_id) {
        if (ev.online) log(`${nameOf(ev.room_id)} vào họp`);
        else log(leaveText(ev.room_id, ev.reason), "warn");
      }
      updateRow(ev.room_id);
      onPresence(ev);
      scheduleMultiview();
      break;
    case "room_dropped":
    case "waiting":
      onAdmission(ev);
      break;
    case "queue": {
      const added = ev.queue.filter((id) => !S.queue.includes(id));
      added.forEach((id) => log(`${nameOf(id)} xin phát biểu`, "hand"));
      const changed = new Set([...S.queue, ...ev.queue]);
      S.queue = ev.queue;
      changed.forEach(updateRow);
      renderQueue();
      renderTiles();
      break;
    }
    case "program": {
      const before = S.program || {};
      S.program = ev;
      // One line per change: granting the floor again (to let the room present) is not a second floor.
      if (ev.mode === "floor") {
        if (before.floor_room !== ev.floor_room) log(`${nameOf(ev.floor_room)} được phát biểu`, "onair");
        else if (!!before.floor_may_present !== !!ev.floor_may_present) log(presentLeaveText(ev.floor_room, ev.floor_may_present));
      } else if (ev.mode === "broadcast") {
        if (before.mode !== "broadcast" || before.source_room !== ev.source_room) log(`Phát hình ${nameOf(ev.source_room)}`, "onair");
      } else if (before.mode && before.mode !== "lecture") log("Về hình chủ trì");
      [before?.source_room, ev.source_room].forEach((id) => id && updateRow(id));
      renderProgram();
      renderQueue();
      renderTiles();
      break;
    }
    case "muted":
      if (ev.muted !== S.muted.has(ev.room_id)) log(muteText(ev.room_id, ev.muted));
      ev.muted ? S.muted.add(ev.room_id) : S.muted.delete(ev.room_id);
      updateRow(ev.room_id);
      renderTiles();
      break;
    case "state":
      S.state = ev.state;
      if (ev.state === "live") S.startedAt = new Date();
      log(`Cuộc họp: ${STATE_LABEL[ev.state]}`);
      renderState();
      renderRecording();
      break;
    case "recording":
      onRecordingEvent(ev);
      break;
    case "roll_call":
      S.rollCall = ev.active;
      log(ev.active ? "Bắt đầu điểm danh" : "Kết thúc điểm danh");
      if (ev.summary) showSummary(ev.summary);
      renderRollCall();
      S.order.forEach(updateRow);
      break;
    case "roll_call_mark":
      if (room) { room.roll_call = ev.status; room.absence_reason = ev.reason; }
      updateRow(ev.room_id);
      renderRollCall();
      break;
    case "agenda_item":
      if (!freshSync(ev)) break;
      H.currentItem = ev.item;
      H.itemAt = ev.at || null;
      log(ev.item ? `Nội dung ${ev.item.position}: ${ev.item.title}` : "Bỏ chọn nội dung họp");
      if (ev.item && !H.items.some((i) => i.id === ev.item.id)) refreshAgenda();
      renderDocs();
      break;
    case "present": {
      if (!freshSync(ev)) break;
      const before = H.present;
      H.present = ev;
      if (!before || before.version_id !== ev.version_id) {
        log(`Trình chiếu “${ev.title}”${ev.presenter?.room_id ? ` (${nameOf(ev.presenter.room_id)})` : ""}`, "onair");
      }
      if (!H.docs.some((d) => d.id === ev.document_id)) refreshAgenda();
      followPresent();
      renderDocs();
      break;
    }
    case "present_stop":
      if (!freshSync(ev)) break;
      if (H.present) log("Dừng trình chiếu tài liệu");
      H.present = null;
      renderDocs();
      break;
    case "agenda_published":
      refreshAgenda();
      log("Đã phát hành chương trình họp");
      break;
    default:
      break;
  }
}

function onStatus(status, detail) {
  const text = {
    connecting: ["Đang kết nối…", "warn"],
    joined: ["Đã kết nối", "ok"],
    reconnecting: [`Mất kết nối — thử lại${detail.attempt ? ` (lần ${detail.attempt})` : ""}`, "bad"],
    closed: ["Đã ngắt", "bad"],
  }[status] || [status, ""];
  const b = $("#conn-badge");
  b.textContent = text[0];
  b.className = `badge ${text[1]}`;
  if (status === "joined" && detail.resumed && app.media && app.media.state === "retrying") app.media.start();
}

function onStats(rooms) {
  // Only the figures and the connection cell change here: buttons are not re-made under the pointer.
  S.quality = rooms;
  for (const id of S.order) {
    updateConn(id);
    updateQuality(id);
    if ($("#rooms-filter").value === "bad") applyFilter(id);
  }
  renderTiles();
  renderTiers(rooms);
}

function onFatal(code, message) {
  if (code === "unauthenticated") {
    location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
    return;
  }
  app.media?.close();
  app.local.close();
  stopScan();
  notice(code === "ended" || code === "meeting_ended" ? "Cuộc họp đã kết thúc" : "Bảng điều khiển đã dừng", message);
}

async function refreshPresence() {
  if (!app.client?.joined || document.hidden) return;
  let data;
  try { data = await app.client.request("snapshot"); } catch (e) { return; }
  const snap = data.snapshot;
  S.online = new Set(snap.online || []);
  for (const fresh of snap.rooms || []) {
    const r = S.rooms.get(fresh.room_id);
    if (!r) continue;
    r.reconnecting = fresh.reconnecting;
    r.roll_call = fresh.roll_call;
    r.absence_reason = fresh.absence_reason;
  }
  S.order.forEach(updateRow);
  syncLost();
  renderRollCall();
  scheduleMultiview();
}

// ---- controls ------------------------------------------------------------------------------------

function wireControls() {
  wirePanels();
  wireConsoleClock();
  $("#btn-links").onclick = showLinks;
  wireRecording();
  wireMedia();
  wireRooms();
  wireLost();
  wireMultiview();
  renderTiles();
  wireDocs();
}

// A fault of the console that nothing caught still gets a Vietnamese explanation, not silence (issue 12, item 12).
let lastFault = 0;
function pageFault(err) {
  if (Date.now() - lastFault < 10000) return;
  lastFault = Date.now();
  toast(errorText(err), "error", 8000);
}
window.addEventListener("error", (e) => pageFault(e.error || e.message));
window.addEventListener("unhandledrejection", (e) => pageFault(e.reason));

main();
