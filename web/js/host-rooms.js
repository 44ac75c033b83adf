// The console's table of rooms: connection, floor and mute tags, roll call, media quality,
// filters, and the per-room actions (broadcast, give the floor, mute, drop, mark present/absent).
import { S, nameOf, send } from "./host-common.js";
import { G, groupHeader, groupRooms, isFolded, matchesText, refreshGroup, roomBox, wireDistricts } from "./host-districts.js";
import { $, ROLL_LABEL, ask, el } from "./ui.js";

// What each mark means, in words (a bare "Chưa" or "Có mặt" beside an online room left it open).
const ROLL_CELL = { present_online: "✓ Có mặt trực tuyến", present_in_person: "✓ Có mặt tại hội trường", absent: "✗ Vắng mặt", not_marked: "Chưa điểm danh" };
const ROLL_TITLE = {
  present_online: "Phòng có mặt qua cầu truyền hình (phòng tự điểm danh, hoặc chủ trì ghi thay)",
  present_in_person: "Đại biểu của đơn vị có mặt trực tiếp tại hội trường của chủ trì",
  absent: "Vắng mặt", not_marked: "Chưa điểm danh: phòng chưa trả lời, chủ trì chưa ghi",
};
const rows = new Map(); // room_id -> {tr, cells}

export function buildRows() {
  const body = $("#rooms-body");
  body.textContent = "";
  rows.clear();
  const order = groupRooms(); // by district in the pre-2025 structure (host-districts.js)
  let group = null;
  for (const id of order) {
    const r = S.rooms.get(id);
    const chair = id === S.me.room_id;
    if (G.on && G.of.get(id) !== group) {
      group = G.of.get(id);
      body.append(groupHeader(G.groups.get(group)));
    }
    const c = {
      name: el("td", { class: "name", title: `${r.name} (${r.unit_code})` }, chair ? "" : roomBox(id), r.name),
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
  refilter();
  $("#rooms-count").textContent = S.order.length;
}

function connState(id) {
  const r = S.rooms.get(id);
  if (S.online.has(id) && r) r.waiting = null; // it came in
  if (!S.online.has(id) && r?.waiting) return ["reconnecting", r.dropped ? "Bị ngắt · đang chờ" : "Đang chờ vào họp"];
  if (!S.online.has(id) && r?.dropped) return ["offline", "Đã ngắt"];
  if (!S.online.has(id)) return ["offline", "Ngoại tuyến"];
  if (r?.reconnecting) return ["reconnecting", "Đang kết nối lại"];
  const q = S.quality[id];
  if (q && !q.connected) return ["reconnecting", "Đang nối hình, tiếng"];
  return ["online", "Trực tuyến"];
}

export function updateRow(id) {
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
  c.roll.replaceChildren(el("span", { class: `tag ${rcClass}`, title: (ROLL_TITLE[rc] || ROLL_LABEL[rc]) + (r.absence_reason ? `: ${r.absence_reason}` : "") },
    ROLL_CELL[rc] + (rc === "absent" && r.absence_reason ? `: ${r.absence_reason}` : "")));
  if (S.rollCall && !chair) {
    // The operator marks a connected room present online (for it), a room that is not connected present in the hall.
    const online = S.online.has(id);
    c.roll.append(
      el("button", { class: "btn btn-sm", dataset: { action: "present", roomId: String(id) },
        title: online ? "Ghi phòng có mặt trực tuyến (thay cho phòng chưa tự điểm danh)" : "Đại biểu của đơn vị có mặt trực tiếp tại hội trường" },
        online ? "Có mặt trực tuyến" : "Có mặt tại hội trường"),
      el("button", { class: "btn btn-sm", title: "Vắng mặt (ghi lý do)", dataset: { action: "absent", roomId: String(id) } }, "Vắng"));
  }
  c.acts.replaceChildren(...(chair ? [] : actions(id, { online: S.online.has(id), muted, onair, hand: pos >= 0 })));
  updateQuality(id);
  applyFilter(id);
}

/** `room_dropped` and `waiting` events (issue 12, items 3 and 11): kept out, let back, waiting to come in. */
export function onAdmission(ev) {
  const r = S.rooms.get(ev.room_id);
  if (!r) return;
  if (ev.event === "room_dropped") r.dropped = ev.dropped;
  else r.waiting = ev.waiting ? ev.reason : null;
  updateRow(ev.room_id);
}

export function updateConn(id) {
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
    S.rooms.get(id)?.dropped ? b("Cho vào lại", "btn-warn", "readmit") : b("Ngắt", "btn-danger", "drop", !online),
  ];
  return out;
}

export function updateQuality(id) {
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

export function applyFilter(id) {
  const row = rows.get(id);
  const r = S.rooms.get(id);
  if (!row || !r) return;
  const f = $("#rooms-filter").value;
  let show = matchesText(id); // accents folded, and the district chosen
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
  row.shown = show;
  row.tr.hidden = !show || isFolded(id);
  if (G.on && !refiltering) refreshGroup(G.of.get(id), G.groups.get(G.of.get(id))?.ids.filter((x) => rows.get(x)?.shown));
}

let refiltering = false;

/** Every row through the filters, then each district's header once. */
export function refilter() {
  refiltering = true;
  try { S.order.forEach(applyFilter); } finally { refiltering = false; }
  for (const g of G.groups.values()) refreshGroup(g.code, g.ids.filter((x) => rows.get(x)?.shown));
}

export function focusRow(id) {
  const row = rows.get(id);
  if (!row) return;
  if (row.tr.hidden) {
    $("#rooms-filter").value = "all"; $("#rooms-search").value = ""; $("#rooms-district").value = "";
    G.collapsed.delete(G.of.get(id));
    refilter();
  }
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
    case "readmit": return send("readmit_room", { room_id: id }, `Đã cho ${name} vào lại`);
    case "present": return send("roll_call_mark", { room_id: id, status: S.online.has(id) ? "present_online" : "present_in_person", reason: "" });
    case "absent": {
      const reason = await ask({ title: `${name} vắng mặt`, body: "Lý do vắng mặt:", input: "Ví dụ: mất điện, đi công tác…", confirm: "Ghi vắng mặt" });
      if (reason) return send("roll_call_mark", { room_id: id, status: "absent", reason });
      return null;
    }
    default: return null;
  }
}

export function wireRooms() {
  // Row and queue buttons: one delegated handler.
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-action]");
    if (!btn) return;
    btn.disabled = true;
    try { await rowAction(btn.dataset.action, Number(btn.dataset.roomId)); } finally { btn.disabled = false; }
  });
  $("#rooms-search").oninput = refilter;
  $("#rooms-filter").onchange = refilter;
  wireDistricts(refilter);
}
