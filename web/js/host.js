// The host console: the chair's operator runs the meeting from here.
import { MeetingClient, api } from "./meeting.js";
import { PageLoader, agendaTree, csrfToken, docLabel, loadAgenda, pickWidth } from "./docs.js";
import { LocalMedia, MediaLink, attach, fillDeviceSelect, meanColour } from "./media.js";
import { $, MODE_LABEL, ROLL_LABEL, STATE_LABEL, ask, el, fmtClock, fmtTime, params, toast } from "./ui.js";

const ROLL_SHORT = { present_online: "Trực tuyến", present_in_person: "Trực tiếp", absent: "Vắng", not_marked: "Chưa" };
const ROLL_CELL = { present_online: "✓ Trực tuyến", present_in_person: "✓ Trực tiếp", absent: "✗ Vắng", not_marked: "Chưa" };
const MV_SLOTS = 16; // extra recvonly video m-lines offered; a page shows 9 or 16 of them
// Rooms that lose and regain their socket within the grace period send no event:
// re-read who is connected now and then.
const PRESENCE_REFRESH_MS = 15000;
const meetingId = Number(params().get("meeting"));

const S = {
  meeting: null,
  me: null,
  state: null,
  program: { mode: "lecture" },
  queue: [],
  muted: new Set(),
  online: new Set(),
  rooms: new Map(), // room_id -> room row from the snapshot (kept up to date)
  order: [],
  rollCall: false,
  quality: {},
  page: 0,
  pageSize: Number(localStorage.getItem("confserver.mv.size") || 9),
  mvRooms: [],
  mvSent: false,
  micOn: true,
  startedAt: null,
};

// Paperless: the agenda, the document previewed here, and what every room is shown.
const H = {
  items: [],
  docs: [],
  loaded: false,
  currentItem: null,
  present: null, // the latest `present` event, null when nobody presents
  view: null, // {document_id, version_id, title, page, page_count}: the console's preview
  syncSeq: -1,
  inflight: 0, // our own `present` requests not answered yet
  tab: "mv",
};
const hpages = new PageLoader();
let hpageLoad = 0;

const local = new LocalMedia("confserver.host.devices");
const rows = new Map(); // room_id -> {tr, cells}
const tiles = []; // {box, video, caption, flags, ph}
let client = null;
let media = null;
let scanTimer = null;
let mvTimer = null;

window.confserver = {
  get state() { return S; },
  get docs() { return H; },
  get client() { return client; },
  get media() { return media; },
  get pc() { return media?.pc || null; },
  stats: () => (media ? media.stats() : Promise.resolve(null)),
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
    return notice("Không kết nối được máy chủ", err.message);
  }
  if (!meetingId) return listMeetings(meetings);
  try {
    S.meeting = await api(`/api/meetings/${meetingId}`);
  } catch (err) {
    return notice("Không mở được cuộc họp", err.message);
  }
  const m = S.meeting;
  document.title = `${m.title} — Điều hành`;
  $("#meeting-title").textContent = m.title;
  $("#meeting-sub").textContent = `Chủ trì: ${m.host_unit_name} · ${fmtTime(m.scheduled_start)} · ${m.invited_rooms} điểm cầu`;
  S.startedAt = m.started_at ? new Date(m.started_at) : null;
  $("#console").hidden = false;
  $("#top-actions").hidden = false;
  buildTiles();
  wireControls();
  setInterval(tickClock, 1000);
  setInterval(refreshPresence, PRESENCE_REFRESH_MS);
  client = new MeetingClient({ meetingId, handlers: { onSnapshot, onEvent, onStatus, onStats, onFatal } });
  client.connect();
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
  if (!resync || media?.state !== "connected") startMedia(snap.ice_servers || []);
  if (!H.loaded) refreshAgenda();
  refreshSync();
}

function onEvent(ev) {
  const room = S.rooms.get(ev.room_id);
  switch (ev.event) {
    case "presence":
      if (ev.online) S.online.add(ev.room_id); else S.online.delete(ev.room_id);
      if (room) room.reconnecting = false;
      if (ev.room_id !== S.me?.room_id) {
        const why = { dropped: " (bị ngắt)", connection_lost: " (mất kết nối)" }[ev.reason] || "";
        log(`${nameOf(ev.room_id)} ${ev.online ? "vào họp" : "rời họp" + why}`, ev.online ? "" : "warn");
      }
      updateRow(ev.room_id);
      scheduleMultiview();
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
      const before = S.program;
      S.program = ev;
      if (ev.mode === "floor") log(`${nameOf(ev.floor_room)} được phát biểu`, "onair");
      else if (ev.mode === "broadcast") log(`Phát hình ${nameOf(ev.source_room)}`, "onair");
      else if (before?.mode !== "lecture") log("Về hình chủ trì");
      [before?.source_room, ev.source_room].forEach((id) => id && updateRow(id));
      renderProgram();
      renderQueue();
      renderTiles();
      break;
    }
    case "muted":
      ev.muted ? S.muted.add(ev.room_id) : S.muted.delete(ev.room_id);
      updateRow(ev.room_id);
      renderTiles();
      break;
    case "state":
      S.state = ev.state;
      if (ev.state === "live") S.startedAt = new Date();
      log(`Cuộc họp: ${STATE_LABEL[ev.state]}`);
      renderState();
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
  if (status === "joined" && detail.resumed && media && media.state === "retrying") media.start();
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
}

function onFatal(code, message) {
  if (code === "unauthenticated") {
    location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
    return;
  }
  media?.close();
  local.close();
  clearInterval(scanTimer);
  notice(code === "ended" || code === "meeting_ended" ? "Cuộc họp đã kết thúc" : "Bảng điều khiển đã dừng", message);
}

async function refreshPresence() {
  if (!client?.joined || document.hidden) return;
  let data;
  try { data = await client.request("snapshot"); } catch (e) { return; }
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
  renderRollCall();
  scheduleMultiview();
}

async function send(type, fields = {}, okText = null) {
  try {
    const data = await client.request(type, fields);
    if (okText) toast(okText, "ok", 2500);
    return data;
  } catch (err) {
    toast(err.message, "error");
    return null;
  }
}

// ---- chair media ----------------------------------------------------------------------

let mediaReady = null;

async function startMedia(iceServers) {
  mediaReady = mediaReady || (async () => {
    await local.open();
    showLocal();
    media = new MediaLink({
      send: (type, fields, opts) => client.request(type, fields, opts),
      extraVideo: MV_SLOTS,
      onSlot: gotTrack,
      onState: (s) => {
        const [t, k] = { connecting: ["Đang kết nối", "warn"], connected: ["Đang phát", "ok"], retrying: ["Kết nối lại…", "bad"], closed: ["Đã dừng", ""] }[s] || [s, ""];
        const b = $("#media-badge");
        b.textContent = t;
        b.className = `badge ${k}`;
      },
      // A new media peer on the relay has no multiview routes yet.
      onConnected: () => { S.mvSent = false; sendMultiview(); },
    });
    media.setTracks(local.videoTrack, local.audioTrack);
  })();
  await mediaReady;
  await media.start(iceServers);
}

async function showLocal() {
  attach($("#self-view"), local.videoTrack).catch(() => {});
  attach($("#program-local"), local.videoTrack).catch(() => {});
  $("#self-none").hidden = !!local.videoTrack;
  try {
    const { cameras, mics } = await local.devices();
    fillDeviceSelect($("#camera-select"), cameras, local.videoTrack?.getSettings().deviceId, "Không có camera");
    fillDeviceSelect($("#mic-select"), mics, local.audioTrack?.getSettings().deviceId, "Không có micro");
  } catch (e) { /* no enumerateDevices */ }
}

async function changeDevice(choice) {
  await local.open(choice);
  local.setMicEnabled(S.micOn);
  await showLocal();
  media?.setTracks(local.videoTrack, local.audioTrack);
}

function gotTrack(kind, index, track) {
  if (kind === "video" && index === 0) {
    attach($("#program-remote"), track).catch(() => {});
  } else if (kind === "video") {
    const t = tiles[index - 1];
    if (t) attach(t.video, track).catch(() => {});
  } else if (kind === "audio") {
    const a = index === 0 ? $("#audio-chair") : $("#audio-floor");
    attach(a, track).catch(() => {
      const b = $("#btn-sound");
      b.hidden = false;
      b.onclick = () => { $("#audio-chair").play().catch(() => {}); $("#audio-floor").play().catch(() => {}); b.hidden = true; };
    });
  }
}

// ---- multiview ------------------------------------------------------------------------------

function buildTiles() {
  const grid = $("#mv-grid");
  for (let i = 0; i < MV_SLOTS; i++) {
    const video = el("video", { autoplay: true, playsinline: true, muted: true });
    video.muted = true;
    const name = el("span", { class: "name" });
    const flags = el("div", { class: "flags" });
    const ph = el("div", { class: "placeholder" });
    const box = el("div", { class: "tile", dataset: { slot: String(i + 1) } }, video, ph, flags,
      el("div", { class: "caption" }, el("span", { class: "dot" }), name));
    box.addEventListener("click", () => {
      const id = Number(box.dataset.roomId);
      if (id) focusRow(id);
    });
    box.addEventListener("dblclick", () => {
      const id = Number(box.dataset.roomId);
      if (id) send("broadcast_room", { room_id: id });
    });
    tiles.push({ box, video, name, flags, ph });
    grid.append(box);
  }
}

function mvCandidates() {
  return S.order.filter((id) => id !== S.me?.room_id && S.online.has(id));
}

function pageCount() {
  return Math.max(1, Math.ceil(mvCandidates().length / S.pageSize));
}

function scheduleMultiview() {
  clearTimeout(mvTimer);
  mvTimer = setTimeout(sendMultiview, 300);
}

/** Tell the relay which rooms the tiles of this page show (slot i+1 = room_ids[i]). */
async function sendMultiview() {
  const all = mvCandidates();
  S.page = Math.min(S.page, pageCount() - 1);
  const ids = all.slice(S.page * S.pageSize, (S.page + 1) * S.pageSize);
  const same = ids.length === S.mvRooms.length && ids.every((id, i) => id === S.mvRooms[i]);
  S.mvRooms = ids;
  renderTiles();
  if (!client?.joined || !media || media.state !== "connected") return;
  if (same && S.mvSent) return;
  const data = await send("multiview", { room_ids: ids });
  S.mvSent = !!data;
}

function setPage(p) {
  const n = pageCount();
  S.page = ((p % n) + n) % n;
  S.mvSent = false;
  sendMultiview();
}

function renderTiles() {
  const grid = $("#mv-grid");
  const cols = S.pageSize === 16 ? 4 : 3;
  grid.style.setProperty("--cols", cols);
  const candidates = mvCandidates();
  $("#mv-count").textContent = candidates.length;
  $("#mv-page").textContent = `${S.page + 1}/${pageCount()}`;
  tiles.forEach((t, i) => {
    t.box.hidden = i >= S.pageSize;
    const id = S.mvRooms[i];
    t.box.dataset.roomId = id || "";
    if (!id) {
      t.box.className = "tile empty-tile";
      t.video.hidden = true;
      t.name.textContent = "";
      t.flags.textContent = "";
      t.ph.textContent = i === 0 && !candidates.length ? "Chưa có điểm cầu nào trực tuyến" : "";
      t.ph.hidden = false;
      return;
    }
    const q = S.quality[id];
    const live = q && q.connected;
    const onair = S.program?.source_room === id;
    const hand = S.queue.includes(id);
    t.box.className = `tile${onair ? " onair" : ""}${hand ? " hand" : ""}`;
    t.video.hidden = !live;
    t.ph.hidden = !!live;
    t.ph.textContent = live ? "" : "Đang chờ hình…";
    t.name.textContent = shortName(id);
    t.box.title = `${nameOf(id)} — bấm đúp để phát hình cho cả hội nghị`;
    t.box.querySelector(".dot").className = `dot ${live ? "online" : "reconnecting"}`;
    t.flags.textContent = "";
    if (onair) t.flags.append(el("span", { class: "flag onair" }, S.program.mode === "floor" ? "ĐANG NÓI" : "ĐANG PHÁT"));
    if (hand) t.flags.append(el("span", { class: "flag hand" }, `XIN NÓI ${S.queue.indexOf(id) + 1}`));
    if (S.muted.has(id)) t.flags.append(el("span", { class: "flag mute" }, "TẮT TIẾNG"));
  });
}

function toggleScan() {
  clearInterval(scanTimer);
  if ($("#mv-scan").checked) {
    scanTimer = setInterval(() => setPage(S.page + 1), Number($("#mv-interval").value) * 1000);
  }
}

// ---- rooms table -----------------------------------------------------------------------------

function buildRows() {
  const body = $("#rooms-body");
  body.textContent = "";
  rows.clear();
  for (const id of S.order) {
    const r = S.rooms.get(id);
    const chair = id === S.me.room_id;
    const c = {
      name: el("td", { class: "name", title: `${r.name} (${r.unit_code})` }, r.name),
      conn: el("td"), floor: el("td"), roll: el("td"),
      kbps: el("td", { class: "num" }), loss: el("td", { class: "num" }), rtt: el("td", { class: "num" }), key: el("td", { class: "num" }),
      acts: el("td", { class: "acts" }),
    };
    const tr = el("tr", { dataset: { roomId: String(id) } }, c.name, c.conn, c.floor, c.roll, c.kbps, c.loss, c.rtt, c.key, c.acts);
    if (chair) tr.classList.add("chair");
    rows.set(id, { tr, c });
    body.append(tr);
    updateRow(id);
  }
  $("#rooms-count").textContent = S.order.length;
}

function connState(id) {
  const r = S.rooms.get(id);
  if (!S.online.has(id)) return ["offline", "Ngoại tuyến"];
  if (r?.reconnecting) return ["reconnecting", "Đang kết nối lại"];
  const q = S.quality[id];
  if (q && !q.connected) return ["reconnecting", "Đang nối hình, tiếng"];
  return ["online", "Trực tuyến"];
}

function updateRow(id) {
  const row = rows.get(id);
  const r = S.rooms.get(id);
  if (!row || !r) return;
  const { c } = row;
  const chair = id === S.me?.room_id;
  updateConn(id);
  const muted = S.muted.has(id);
  const pos = S.queue.indexOf(id);
  const onair = S.program?.source_room === id;
  c.floor.replaceChildren(
    onair ? el("span", { class: "tag onair" }, S.program.mode === "floor" ? "Đang phát biểu" : "Đang phát hình") : "",
    pos >= 0 ? el("span", { class: "tag hand" }, `Xin phát biểu · ${pos + 1}`) : "",
    muted ? el("span", { class: "tag mute" }, "Tắt tiếng") : "");
  const rc = r.roll_call || "not_marked";
  const rcClass = rc.startsWith("present") ? "present" : rc === "absent" ? "absent" : "";
  c.roll.replaceChildren(el("span", { class: `tag ${rcClass}`, title: ROLL_LABEL[rc] + (r.absence_reason ? `: ${r.absence_reason}` : "") },
    ROLL_CELL[rc] + (rc === "absent" && r.absence_reason ? `: ${r.absence_reason}` : "")));
  if (S.rollCall && !chair) {
    // The operator marks rooms present in the hall, or absent with a reason.
    c.roll.append(
      el("button", { class: "btn btn-sm", title: "Có mặt trực tiếp tại hội trường", dataset: { action: "present", roomId: String(id) } }, "Có mặt"),
      el("button", { class: "btn btn-sm", title: "Vắng mặt (ghi lý do)", dataset: { action: "absent", roomId: String(id) } }, "Vắng"));
  }
  c.acts.replaceChildren(...(chair ? [] : actions(id, { online: S.online.has(id), muted, onair, hand: pos >= 0 })));
  updateQuality(id);
  applyFilter(id);
}

function updateConn(id) {
  const row = rows.get(id);
  if (!row) return;
  const [cls, label] = connState(id);
  const key = `${cls}|${label}`;
  if (row.connKey === key) return; // untouched cells keep hover and focus
  row.connKey = key;
  row.c.conn.replaceChildren(el("span", { class: "st" }, el("span", { class: `dot ${cls}` }), label),
    id === S.me?.room_id ? el("span", { class: "tag chair" }, "Chủ trì") : "");
}

function actions(id, { online, muted, onair, hand }) {
  const b = (label, cls, action, disabled = false) =>
    el("button", { class: `btn btn-sm ${cls}`, dataset: { action, roomId: String(id) }, disabled: disabled || null }, label);
  const out = [
    onair && S.program.mode === "broadcast" ? b("Về chủ trì", "", "lecture") : b("Phát hình", "", "broadcast", !online),
    S.program?.floor_room === id ? b("Thu hồi", "btn-danger", "revoke") : b(hand ? "Cho phát biểu" : "Cho nói", "btn-go", "grant", !online),
    b(muted ? "Bật tiếng" : "Tắt tiếng", muted ? "btn-warn" : "", muted ? "unmute" : "mute"),
    b("Ngắt", "btn-danger", "drop", !online),
  ];
  return out;
}

function updateQuality(id) {
  const row = rows.get(id);
  if (!row) return;
  const q = S.quality[id];
  const { c } = row;
  if (!q || !S.online.has(id)) {
    c.kbps.textContent = c.loss.textContent = c.rtt.textContent = c.key.textContent = "—";
    c.kbps.className = c.loss.className = c.rtt.className = c.key.className = "num muted";
    return;
  }
  c.kbps.textContent = `${q.kbps_in} / ${q.kbps_out}`;
  c.kbps.className = `num${q.connected && q.kbps_in < 30 ? " q-warn" : ""}`;
  const loss = Math.max(q.loss_in_pct || 0, q.loss_out_pct || 0);
  c.loss.textContent = `${loss.toFixed(1)} %`;
  c.loss.className = `num${loss >= 5 ? " q-bad" : loss >= 2 ? " q-warn" : ""}`;
  c.rtt.textContent = q.rtt_ms == null ? "—" : `${q.rtt_ms} ms`;
  c.rtt.className = `num${q.rtt_ms >= 400 ? " q-bad" : q.rtt_ms >= 200 ? " q-warn" : ""}`;
  c.key.textContent = q.last_keyframe_s == null ? "—" : `${Math.round(q.last_keyframe_s)} s`;
  c.key.className = `num${q.last_keyframe_s == null && q.connected ? " q-warn" : ""}`;
}

function isBad(id) {
  const q = S.quality[id];
  if (!q) return false;
  return !q.connected || Math.max(q.loss_in_pct || 0, q.loss_out_pct || 0) >= 5 || (q.rtt_ms || 0) >= 400;
}

function applyFilter(id) {
  const row = rows.get(id);
  const r = S.rooms.get(id);
  if (!row || !r) return;
  const text = $("#rooms-search").value.trim().toLowerCase();
  const f = $("#rooms-filter").value;
  let show = !text || r.name.toLowerCase().includes(text) || r.unit_code.includes(text);
  if (show && f !== "all") {
    show = {
      online: () => S.online.has(id),
      offline: () => !S.online.has(id),
      hand: () => S.queue.includes(id),
      muted: () => S.muted.has(id),
      unmarked: () => (r.roll_call || "not_marked") === "not_marked",
      bad: () => S.online.has(id) && isBad(id),
    }[f]();
  }
  row.tr.hidden = !show;
}

function focusRow(id) {
  const row = rows.get(id);
  if (!row) return;
  if (row.tr.hidden) { $("#rooms-filter").value = "all"; $("#rooms-search").value = ""; S.order.forEach(applyFilter); }
  row.tr.scrollIntoView({ block: "nearest" });
  row.tr.animate([{ background: "#3a4d6b" }, { background: "transparent" }], { duration: 1200 });
}

async function rowAction(action, id) {
  const name = nameOf(id);
  switch (action) {
    case "broadcast": return send("broadcast_room", { room_id: id });
    case "lecture": return send("lecture_mode");
    case "grant": return send("grant_floor", { room_id: id });
    case "revoke": return send("revoke_floor");
    case "mute": return send("mute_room", { room_id: id, muted: true });
    case "unmute": return send("mute_room", { room_id: id, muted: false });
    case "drop":
      if (await ask({ title: `Ngắt ${name}?`, body: "Phòng sẽ bị đưa ra khỏi cuộc họp và không tự kết nối lại.", confirm: "Ngắt phòng", danger: true })) {
        return send("drop_room", { room_id: id }, `Đã ngắt ${name}`);
      }
      return null;
    case "present": return send("roll_call_mark", { room_id: id, status: "present_in_person", reason: "" });
    case "absent": {
      const reason = await ask({ title: `${name} vắng mặt`, body: "Lý do vắng mặt:", input: "Ví dụ: mất điện, đi công tác…", confirm: "Ghi vắng mặt" });
      if (reason) return send("roll_call_mark", { room_id: id, status: "absent", reason });
      return null;
    }
    default: return null;
  }
}

// ---- panels ------------------------------------------------------------------------------------

function renderAll() {
  renderState();
  renderProgram();
  renderQueue();
  renderRollCall();
  sendMultiview();
}

function renderState() {
  const s = S.state;
  const b = $("#state-badge");
  b.textContent = STATE_LABEL[s] || s;
  b.className = `badge state-${s}`;
  $("#btn-test-run").hidden = s !== "scheduled";
  $("#btn-live").hidden = s !== "test_run";
  $("#btn-end").hidden = s !== "live";
  tickClock();
  renderProgram();
}

function tickClock() {
  const c = $("#clock");
  if (S.state === "live" && S.startedAt) {
    c.hidden = false;
    c.textContent = `Đã họp ${fmtClock((Date.now() - S.startedAt.getTime()) / 1000)}`;
  } else {
    c.hidden = true;
  }
}

function renderProgram() {
  const p = S.program || { mode: "lecture" };
  const lecture = p.mode === "lecture" || !p.source_room;
  $("#program-local").hidden = !lecture;
  $("#program-remote").hidden = lecture;
  const who = lecture ? nameOf(S.me?.room_id) : nameOf(p.source_room);
  $("#program-caption").textContent = who;
  $("#program-who").textContent = who;
  const mb = $("#mode-badge");
  mb.textContent = lecture ? "Chủ trì" : p.mode === "floor" ? "Phát biểu" : "Phát hình";
  mb.className = `badge ${lecture ? "" : "state-live"}`;
  mb.title = MODE_LABEL[p.mode] || "";
  $("#btn-revoke").disabled = !p.floor_room;
  $("#btn-lecture").disabled = lecture;
  const onair = $("#program-onair");
  onair.hidden = !(S.state === "live" || S.state === "test_run");
  onair.textContent = S.state === "live" ? "TRỰC TIẾP" : "CHẠY THỬ";
  onair.className = `badge ${S.state === "live" ? "state-live" : "state-test_run"}`;
}

function renderQueue() {
  const list = $("#queue");
  list.textContent = "";
  S.queue.forEach((id, i) => {
    list.append(el("li", { dataset: { roomId: String(id) } },
      el("span", { class: "pos" }, i + 1),
      el("span", { class: "name", title: nameOf(id) }, shortName(id)),
      el("button", { class: "btn btn-sm btn-go grant", title: "Cho phòng này phát biểu", dataset: { action: "grant", roomId: String(id) } }, "Cho nói")));
  });
  $("#queue-empty").hidden = S.queue.length > 0;
  $("#queue-count").textContent = S.queue.length;
  const floor = S.program?.floor_room;
  $("#speaker").hidden = !floor;
  if (floor) $("#speaker-name").textContent = shortName(floor);
  const allowed = !!S.program?.floor_may_present;
  const btn = $("#speaker-present");
  btn.textContent = allowed ? "Thôi trình chiếu" : "Cho trình chiếu";
  btn.classList.toggle("active", allowed);
}

function renderRollCall() {
  const counts = { present_online: 0, present_in_person: 0, absent: 0, not_marked: 0 };
  for (const r of S.rooms.values()) counts[r.roll_call || "not_marked"] += 1;
  $("#rc-counts").replaceChildren(...Object.entries(counts).map(([k, v]) =>
    el("div", { class: `c-${k}` }, el("b", {}, v), el("span", {}, ROLL_SHORT[k]))));
  const badge = $("#rc-badge");
  badge.textContent = S.rollCall ? "Đang điểm danh" : "Không điểm danh";
  badge.className = `badge ${S.rollCall ? "warn" : ""}`;
  $("#btn-rc-start").hidden = S.rollCall;
  $("#btn-rc-end").hidden = !S.rollCall;
}

function showSummary(summary) {
  const parts = Object.entries(summary).map(([k, v]) => `${ROLL_LABEL[k] || k}: ${v}`);
  $("#rc-summary").textContent = `Kết quả lần điểm danh gần nhất — ${parts.join(" · ")}`;
}

function log(text, kind = "") {
  const list = $("#log");
  const time = new Date().toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  list.prepend(el("li", { class: kind }, el("time", {}, time), " ", text));
  while (list.children.length > 200) list.lastChild.remove();
}

// ---- controls ------------------------------------------------------------------------------------

function wireControls() {
  $("#btn-test-run").onclick = () => send("set_state", { state: "test_run" }, "Đã bắt đầu chạy thử");
  $("#btn-live").onclick = async () => {
    if (await ask({ title: "Khai mạc cuộc họp?", body: "Cuộc họp chuyển sang trạng thái đang họp chính thức.", confirm: "Khai mạc" })) {
      send("set_state", { state: "live" }, "Cuộc họp đã khai mạc");
    }
  };
  $("#btn-end").onclick = async () => {
    if (await ask({ title: "Kết thúc cuộc họp?", body: "Tất cả các phòng sẽ bị ngắt và không thể vào lại.", confirm: "Kết thúc", danger: true })) {
      send("set_state", { state: "ended" });
    }
  };
  $("#btn-links").onclick = showLinks;
  $("#btn-lecture").onclick = () => send("lecture_mode");
  $("#btn-revoke").onclick = () => send("revoke_floor");
  $("#speaker-revoke").onclick = () => send("revoke_floor");
  // Let the speaking room present documents too (or take that back): the floor is granted again with it.
  $("#speaker-present").onclick = () => {
    const floor = S.program?.floor_room;
    if (floor) send("grant_floor", { room_id: floor, may_present: !S.program.floor_may_present });
  };
  $("#btn-rc-start").onclick = () => send("roll_call_start");
  $("#btn-rc-end").onclick = async () => {
    const data = await send("roll_call_end");
    if (data?.summary) showSummary(data.summary);
  };
  $("#btn-mic").onclick = () => {
    S.micOn = !S.micOn;
    local.setMicEnabled(S.micOn);
    $("#btn-mic").textContent = S.micOn ? "Tắt micro chủ trì" : "Bật micro chủ trì";
    $("#btn-mic").className = `btn btn-sm ${S.micOn ? "" : "btn-danger"}`;
  };
  $("#camera-select").onchange = () => changeDevice({ camera: $("#camera-select").value });
  $("#mic-select").onchange = () => changeDevice({ mic: $("#mic-select").value });
  // Row and queue buttons: one delegated handler.
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-action]");
    if (!btn) return;
    btn.disabled = true;
    try { await rowAction(btn.dataset.action, Number(btn.dataset.roomId)); } finally { btn.disabled = false; }
  });
  const size = $("#mv-size");
  size.value = String(S.pageSize);
  size.onchange = () => {
    S.pageSize = Number(size.value);
    localStorage.setItem("confserver.mv.size", size.value);
    S.page = 0;
    S.mvSent = false;
    sendMultiview();
  };
  $("#mv-prev").onclick = () => setPage(S.page - 1);
  $("#mv-next").onclick = () => setPage(S.page + 1);
  $("#mv-scan").onchange = toggleScan;
  $("#mv-interval").onchange = toggleScan;
  $("#rooms-search").oninput = () => S.order.forEach(applyFilter);
  $("#rooms-filter").onchange = () => S.order.forEach(applyFilter);
  renderTiles();
  wireDocs();
}

/** Revoke one room's links (or all): the room is cut off and its old link stops working; a new one is handed out
 * the next time the dialog opens. */
async function revokeLinks(roomId) {
  const who = roomId === null ? "mọi phòng" : nameOf(roomId);
  if (!await ask({ title: `Thu hồi liên kết của ${who}?`, danger: true, confirm: "Thu hồi",
    body: "Liên kết cũ không dùng được nữa và phòng đang kết nối bằng nó bị ngắt. Mở lại “Liên kết phòng” để lấy liên kết mới." })) return;
  try {
    await api(`/api/meetings/${meetingId}/room-tokens${roomId === null ? "" : `?room_id=${roomId}`}`, { method: "DELETE" });
  } catch (err) {
    return toast(err.message, "error");
  }
  document.querySelector("dialog.links-dialog")?.close();
  toast(`Đã thu hồi liên kết của ${who}.`, "ok");
}

async function showLinks() {
  let links;
  try {
    links = await api(`/api/meetings/${meetingId}/room-tokens`);
  } catch (err) {
    return toast(err.message, "error");
  }
  const full = (l) => new URL(l.url, location.origin).href;
  const copy = async (text) => {
    try { await navigator.clipboard.writeText(text); } catch (e) {
      const ta = el("textarea", {}, text);
      document.body.append(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    toast("Đã sao chép", "ok", 1500);
  };
  const lines = links.map((l) => `${nameOf(l.room_id)}\t${full(l)}`).join("\n");
  const csv = "phong,lien_ket\n" + links.map((l) => `"${nameOf(l.room_id).replace(/"/g, '""')}",${full(l)}`).join("\n");
  const dlg = el("dialog", { class: "dialog wide links-dialog" },
    el("h2", {}, "Liên kết đăng nhập của các phòng"),
    el("p", { class: "muted" }, "Gửi mỗi phòng đúng liên kết của phòng đó. Liên kết chỉ dùng cho cuộc họp này, hết hạn vài giờ sau giờ kết thúc dự kiến và có thể thu hồi; phòng không cần tài khoản."),
    el("div", { class: "links-list" }, links.map((l) => el("div", { class: "row", dataset: { roomId: String(l.room_id) } },
      el("div", {}, el("strong", {}, nameOf(l.room_id)), el("br"), el("code", {}, full(l))),
      el("button", { class: "btn btn-sm", onclick: () => copy(full(l)) }, "Sao chép"),
      el("button", { class: "btn btn-sm", onclick: () => revokeLinks(l.room_id) }, "Thu hồi")))),
    el("div", { class: "dialog-actions" },
      el("button", { class: "btn btn-danger", onclick: () => revokeLinks(null) }, "Thu hồi tất cả"),
      el("a", { class: "btn", download: `lien-ket-phong-hop-${meetingId}.csv`, href: `data:text/csv;charset=utf-8,${encodeURIComponent("\ufeff" + csv)}` }, "Tải tệp CSV"),
      el("button", { class: "btn", onclick: () => copy(lines) }, "Sao chép tất cả"),
      el("button", { class: "btn btn-primary", onclick: () => dlg.close() }, "Đóng")));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

// ---- paperless: agenda, documents, presenting ------------------------------------------------------

function wireDocs() {
  for (const b of document.querySelectorAll(".ptab")) b.onclick = () => setPanelTab(b.dataset.tab);
  $("#present-chip").onclick = () => setPanelTab("docs");
  $("#hdoc-prev").onclick = () => hturn(-1);
  $("#hdoc-next").onclick = () => hturn(+1);
  $("#hdoc-present").onclick = () => presentView();
  $("#hdoc-stop").onclick = () => send("present_stop");
  $("#h-page-img").onload = () => { $("#h-page-img").dataset.loaded = "1"; };
  $("#upload-form").onsubmit = (e) => { e.preventDefault(); upload(); };
  $("#item-form").onsubmit = (e) => { e.preventDefault(); addItem(); };
  $("#item-box").addEventListener("toggle", () => { if ($("#item-box").open) fillPresenters(); });
  $("#receipts-refresh").onclick = loadReceipts;
  $("#btn-publish").onclick = publishAgenda;
  document.addEventListener("keydown", (e) => {
    if (H.tab !== "docs" || !H.view || e.target.closest("input, select, textarea, dialog")) return;
    if (e.key === "ArrowRight" || e.key === "PageDown") { e.preventDefault(); hturn(+1); }
    else if (e.key === "ArrowLeft" || e.key === "PageUp") { e.preventDefault(); hturn(-1); }
  });
}

function setPanelTab(tab) {
  H.tab = tab;
  for (const b of document.querySelectorAll(".ptab")) {
    b.classList.toggle("active", b.dataset.tab === tab);
    b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  }
  $("#mv-grid").hidden = tab !== "mv";
  $("#mv-toolbar").hidden = tab !== "mv";
  $("#hdocs").hidden = tab !== "docs";
  $("#hreceipts").hidden = tab !== "receipts";
  if (tab === "docs") refreshAgenda(); // uploads from elsewhere (another operator, the API)
  if (tab === "docs" && H.view) showHostPage();
  if (tab === "receipts") loadReceipts();
}

async function refreshAgenda() {
  try {
    const { items, docs } = await loadAgenda(meetingId);
    H.items = items;
    H.docs = docs;
    H.loaded = true;
  } catch (err) {
    $("#h-agenda-empty").textContent = `Chưa tải được chương trình họp (${err.message}).`;
    return;
  }
  const sel = $("#up-item");
  const chosen = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "Tài liệu chung"),
    ...H.items.map((i) => el("option", { value: String(i.id) }, `${i.position}. ${i.title}`)));
  sel.value = H.items.some((i) => String(i.id) === chosen) ? chosen : "";
  renderDocs();
}

async function refreshSync() {
  if (!client?.joined) return;
  let s;
  try { s = await client.request("sync_state"); } catch (e) { return; }
  if (typeof s.sync_seq === "number") {
    if (s.sync_seq < H.syncSeq) return;
    H.syncSeq = s.sync_seq;
  }
  H.currentItem = s.agenda_item?.item || null;
  H.present = s.present || null;
  followPresent();
  renderDocs();
}

function freshSync(ev) {
  if (typeof ev.sync_seq !== "number") return true;
  if (ev.sync_seq < H.syncSeq) return false;
  H.syncSeq = ev.sync_seq;
  return true;
}

/** The preview follows the presented page when it shows that document (or nothing yet),
 *  unless our own page turns are still on their way. */
function followPresent() {
  const p = H.present;
  if (!p || H.inflight > 0) return;
  if (H.view && H.view.version_id !== p.version_id) return;
  H.view = { document_id: p.document_id, version_id: p.version_id, title: p.title, page: p.page, page_count: p.page_count };
  showHostPage();
}

const presentingView = () => !!(H.present && H.view && H.present.version_id === H.view.version_id);

function openHostDoc(d) {
  const v = d.current;
  const same = H.present && H.present.version_id === v.id;
  H.view = { document_id: d.id, version_id: v.id, title: d.title, page: same ? H.present.page : 1, page_count: v.page_count };
  showHostPage();
}

async function presentPage(page) {
  const v = H.view;
  H.inflight += 1;
  try {
    await client.request("present", { version_id: v.version_id, page });
  } catch (err) {
    toast(err.message, "error");
  } finally {
    H.inflight -= 1;
    if (!H.inflight) { followPresent(); renderDocs(); }
  }
}

function presentView() {
  if (!H.view) return;
  presentPage(H.view.page);
}

/** Turn the preview's page; while it is the presented document, every room turns with it. */
function hturn(delta) {
  const v = H.view;
  if (!v) return;
  const page = v.page + delta;
  if (page < 1 || page > v.page_count) return;
  const live = presentingView();
  v.page = page;
  showHostPage();
  if (live) presentPage(page);
}

async function showHostPage() {
  renderViewerBar();
  const v = H.view;
  if (!v || H.tab !== "docs") return;
  const img = $("#h-page-img");
  const wrap = $("#h-page-wrap");
  const width = pickWidth(wrap.clientWidth || 480);
  const mine = ++hpageLoad;
  try {
    const url = await hpages.load(v.version_id, v.page, width);
    if (mine !== hpageLoad) return;
    if (img.src !== url) { img.dataset.loaded = ""; img.src = url; wrap.scrollTop = 0; }
    img.dataset.page = String(v.page);
    img.hidden = false;
    $("#h-placeholder").hidden = true;
    hpages.prefetch(v.version_id, [v.page + 1, v.page - 1], v.page_count, width);
  } catch (err) {
    if (mine !== hpageLoad) return;
    img.hidden = true;
    $("#h-placeholder").textContent = `Không tải được trang ${v.page}: ${err.message}`;
    $("#h-placeholder").hidden = false;
  }
}

function renderViewerBar() {
  const v = H.view;
  const live = presentingView();
  $("#hdoc-title").textContent = v ? v.title : "Chọn tài liệu để xem trước, trình chiếu";
  $("#hdoc-title").title = v ? v.title : "";
  $("#hdoc-page").textContent = v ? v.page : "–";
  $("#hdoc-count").textContent = v ? v.page_count : "–";
  $("#hdoc-prev").disabled = !v || v.page <= 1;
  $("#hdoc-next").disabled = !v || v.page >= v.page_count;
  $("#hdoc-prev").title = $("#hdoc-next").title = live ? "Lật trang cho mọi phòng" : "Chỉ xem trước trên bảng điều khiển";
  const present = $("#hdoc-present");
  const onPage = live && H.present.page === v.page;
  present.disabled = !v || onPage;
  present.textContent = live ? (onPage ? "Đang trình chiếu" : "Trình chiếu trang này") : "Trình chiếu";
  $("#hdoc-stop").hidden = !H.present;
  const badge = $("#hdoc-badge");
  badge.hidden = !H.present;
  if (H.present) {
    badge.textContent = live ? `Mọi phòng đang xem trang ${H.present.page}` : `Đang trình chiếu “${H.present.title}” trang ${H.present.page}`;
    badge.className = `badge ${live ? "state-live" : "warn"}`;
  }
  const chip = $("#present-chip");
  chip.hidden = !H.present;
  if (H.present) {
    chip.textContent = `▶ ${H.present.title} · tr. ${H.present.page}/${H.present.page_count}`;
    chip.title = "Đang trình chiếu — bấm để mở bảng tài liệu";
  }
}

function renderDocs() {
  const tree = agendaTree(H.items, H.docs);
  $("#docs-count").textContent = H.docs.length;
  const list = $("#h-agenda");
  const openId = H.view?.document_id;
  list.replaceChildren(...tree.map(({ item, docs }) => {
    const current = item && H.currentItem?.id === item.id;
    return el("li", { class: `agenda-item${current ? " current" : ""}${item ? "" : " loose"}`, dataset: { itemId: item ? String(item.id) : "" } },
      el("div", { class: "item-head" },
        el("span", { class: "pos" }, item ? item.position : "•"),
        el("span", { class: "item-title" }, item ? item.title : "Tài liệu chung"),
        item ? (current
          ? el("button", { class: "btn btn-sm item-go active", title: "Bỏ chọn nội dung đang thảo luận", onclick: () => send("agenda_item", { item_id: null }) }, "Đang thảo luận")
          : el("button", { class: "btn btn-sm item-go", title: "Chuyển cuộc họp sang nội dung này (mọi phòng thấy)", onclick: () => send("agenda_item", { item_id: item.id }) }, "Chuyển tới"))
          : null),
      item ? itemTools(item) : null,
      docs.length ? el("ul", { class: "doc-list" }, docs.map((d) => el("li", {},
        el("button", {
          class: `doc-open${d.id === openId ? " open" : ""}`,
          dataset: { documentId: String(d.id), versionId: String(d.current.id) },
          title: `Mở “${d.title}” để xem trước, trình chiếu`,
          onclick: () => openHostDoc(d),
        }, ...docLabel(d), H.present?.document_id === d.id ? el("span", { class: "tag onair" }, "Trình chiếu") : null)))) : null);
  }));
  const empty = $("#h-agenda-empty");
  empty.hidden = tree.length > 0;
  if (H.loaded && !tree.length) empty.textContent = "Chưa có nội dung họp, tài liệu.";
  renderViewerBar();
}

// ---- the agenda editor: add, rename, move, remove items (rooms see it when it is published) ----

function itemTools(item) {
  const i = H.items.findIndex((x) => x.id === item.id);
  const b = (text, title, tool, onclick, disabled = false, cls = "") =>
    el("button", { class: `btn btn-xs ${cls}`, title, onclick, disabled, dataset: { tool } }, text);
  return el("div", { class: "item-tools" },
    item.planned_minutes ? el("span", { class: "muted small" }, `${item.planned_minutes} phút`) : null,
    item.presenter_unit_name ? el("span", { class: "muted small" }, `· ${item.presenter_unit_name}`) : null,
    el("span", { class: "spacer" }),
    b("↑", "Đưa lên trước", "item-up", () => moveItem(item, -1), i <= 0),
    b("↓", "Đưa xuống sau", "item-down", () => moveItem(item, +1), i < 0 || i >= H.items.length - 1),
    b("Sửa tên", "Sửa tên nội dung họp", "item-rename", () => renameItem(item)),
    b("Xóa", "Xóa nội dung họp (tài liệu của nó thành tài liệu chung)", "item-delete", () => deleteItem(item), false, "btn-danger"));
}

/** Units that may present an item: the invited rooms' units, the host's first. */
function fillPresenters() {
  const sel = $("#item-presenter");
  if (sel.options.length > 1) return;
  const seen = new Set();
  for (const r of S.rooms.values()) {
    if (seen.has(r.unit_code)) continue;
    seen.add(r.unit_code);
    sel.append(el("option", { value: r.unit_code }, r.unit_name));
  }
}

async function agendaChange(what, fn) {
  try {
    await fn();
  } catch (err) {
    toast(`${what}: ${err.message}`, "error");
  }
  await refreshAgenda();
}

function addItem() {
  const title = $("#item-title").value.trim();
  if (!title) return;
  const minutes = Number($("#item-minutes").value) || null;
  const body = { title, planned_minutes: minutes, presenter_unit: $("#item-presenter").value || null };
  return agendaChange("Chưa thêm được nội dung", async () => {
    const item = await api(`/api/agenda/meetings/${meetingId}/items`, { method: "POST", body });
    $("#item-form").reset();
    toast(`Đã thêm nội dung ${item.position}: ${item.title}. Phát hành lại để các phòng thấy.`, "ok");
  });
}

async function renameItem(item) {
  const title = await ask({ title: `Sửa tên nội dung ${item.position}`, input: "Tên nội dung", value: item.title, confirm: "Lưu" });
  if (!title || title === item.title) return;
  await agendaChange("Chưa sửa được", () => api(`/api/agenda/items/${item.id}`, { method: "PATCH", body: { title } }));
}

async function deleteItem(item) {
  const ok = await ask({ title: `Xóa nội dung ${item.position}?`, body: `“${item.title}” sẽ bị xóa khỏi chương trình; tài liệu của nó vẫn còn, thành tài liệu chung.`, confirm: "Xóa", danger: true });
  if (!ok) return;
  await agendaChange("Chưa xóa được", () => api(`/api/agenda/items/${item.id}`, { method: "DELETE" }));
}

function moveItem(item, delta) {
  const ids = H.items.map((x) => x.id);
  const i = ids.indexOf(item.id);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= ids.length) return;
  [ids[i], ids[j]] = [ids[j], ids[i]];
  return agendaChange("Chưa sắp xếp được", () => api(`/api/agenda/meetings/${meetingId}/items/order`, { method: "PUT", body: { item_ids: ids } }));
}

function upload() {
  const file = $("#up-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  if ($("#up-title").value.trim()) form.append("title", $("#up-title").value.trim());
  if ($("#up-item").value) form.append("item_id", $("#up-item").value);
  form.append("confidential", $("#up-conf").checked ? "true" : "false");
  const xhr = new XMLHttpRequest();
  const bar = $("#up-bar");
  const pct = $("#up-pct");
  const btn = $("#up-btn");
  $("#up-progress").hidden = false;
  bar.style.width = "0";
  pct.textContent = "0 %";
  btn.disabled = true;
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    const n = Math.round((e.loaded / e.total) * 100);
    bar.style.width = `${n}%`;
    pct.textContent = n < 100 ? `${n} %` : "Đang xử lý…";
  };
  const done = (ok, text) => {
    btn.disabled = false;
    $("#up-progress").hidden = true;
    toast(text, ok ? "ok" : "error", ok ? 3000 : 8000);
  };
  xhr.onload = () => {
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 201) {
      $("#upload-form").reset();
      done(true, `Đã tải lên “${data.title}” (${data.current.page_count} trang)`);
      log(`Tải lên tài liệu “${data.title}”`);
      refreshAgenda();
    } else {
      done(false, data?.message || `Tải lên không được (lỗi ${xhr.status}).`);
    }
  };
  xhr.onerror = () => done(false, "Mất kết nối khi tải lên; hãy thử lại.");
  xhr.open("POST", `/api/agenda/meetings/${meetingId}/documents`);
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.send(form);
}

async function publishAgenda() {
  if (!(await ask({ title: "Phát hành chương trình họp?", body: "Các phòng được mời nhận chương trình và tài liệu hiện có (phòng đang kết nối thấy ngay).", confirm: "Phát hành" }))) return;
  const btn = $("#btn-publish");
  btn.disabled = true;
  try {
    const resp = await fetch(`/api/agenda/meetings/${meetingId}/publish`, {
      method: "POST", credentials: "same-origin", headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    });
    const data = await resp.json().catch(() => null);
    if (resp.status !== 201) throw new Error(data?.message || `Lỗi ${resp.status}`);
    toast(`Đã phát hành chương trình (lần ${data.number})`, "ok");
  } catch (err) {
    toast(`Chưa phát hành được: ${err.message}`, "error");
  } finally {
    btn.disabled = false;
  }
}

async function loadReceipts() {
  let r;
  try { r = await api(`/api/agenda/meetings/${meetingId}/receipts`); } catch (err) { return toast(err.message, "error"); }
  $("#receipts-at").textContent = `Cập nhật ${new Date().toLocaleTimeString("vi-VN")}`;
  const t = (iso) => (iso ? new Date(iso).toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit" }) : "—");
  const docs = r.documents.filter((d) => d.is_current);
  const table = $("#receipts-table");
  table.replaceChildren(
    el("thead", {}, el("tr", {}, el("th", {}, "Phòng"), el("th", { class: "num" }, "Đã mở"),
      ...docs.map((d) => el("th", { class: "num", title: `${d.title} — ${d.rooms_opened}/${d.rooms_total} phòng đã mở` },
        `${d.title.length > 18 ? `${d.title.slice(0, 17)}…` : d.title} (${d.rooms_opened}/${d.rooms_total})`)),
      el("th", {}, "Lần đầu"), el("th", {}, "Gần nhất"))),
    el("tbody", {}, r.rooms.map((room) => {
      const opened = new Map(room.opened.map((o) => [o.version_id, o]));
      return el("tr", { dataset: { roomId: String(room.room_id) } },
        el("td", { class: "name", title: room.room_name }, room.room_name),
        el("td", { class: `num${room.current_opened < room.current_total ? " q-warn" : ""}` }, `${room.current_opened}/${room.current_total}`),
        ...docs.map((d) => {
          const o = opened.get(d.version_id);
          return el("td", { class: "num", title: o ? `${o.count} lần, lần đầu ${fmtTime(o.first_opened_at)}` : "Chưa mở" }, o ? `✓ ${t(o.first_opened_at)}` : "—");
        }),
        el("td", {}, t(room.first_opened_at)), el("td", {}, t(room.last_opened_at)));
    })));
  if (!r.rooms.length) table.append(el("tbody", {}, el("tr", {}, el("td", { class: "muted" }, "Chưa có phòng nào."))));
}

// ---- helpers --------------------------------------------------------------------------------------

function nameOf(id) {
  return S.rooms.get(id)?.name || (id ? `Phòng ${id}` : "—");
}

/** Without the "Phòng họp " every room name starts with, for tight places. */
function shortName(id) {
  return nameOf(id).replace(/^Phòng họp\s+/i, "");
}

function notice(title, text) {
  $("#notice-title").textContent = title;
  $("#notice-text").textContent = text || "";
  $("#notice").hidden = false;
}

main();
