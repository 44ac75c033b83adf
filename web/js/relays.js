// The operator's view of the relays (issue 11, item 7): each relay as a card (load bar, state, heartbeat,
// meetings), the chosen meeting's tree (root → middles → leaves, rooms count, expandable to room names),
// refreshed every second. A card or room row whose relay changed since the last snapshot (a room moved,
// a relay died or came back) is highlighted for a few seconds. Address: ?meeting=<id> opens that meeting's tree
// (from the console, the meeting it showed).
import { $, el, errorText, params, STATE_LABEL } from "./ui.js";
import { api } from "./meeting.js";

const REFRESH_MS = 1000;
const FLASH_MS = 6000;
const STATE = {
  live: ["Đang chạy", "ok"],
  draining: ["Đang rút phòng", "warn"],
  dead: ["Mất kết nối", "bad"],
  unknown: ["Không rõ", "warn"],
};
const ROLE = { root: "Gốc", middle: "Trung gian", leaf: "Lá" };
const LINK_STATE = { connected: "Liên kết: đã nối", connecting: "Liên kết: đang nối", new: "Liên kết: mới mở",
  failed: "Liên kết: hỏng", closed: "Liên kết: đã đóng", disconnected: "Liên kết: gián đoạn" };

const S = { relays: new Map(), rooms: new Map(), flash: new Map(), open: new Set(), meeting: null, timer: null };

function signIn() {
  location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/** Mark `key` highlighted until now + FLASH_MS. */
function flash(key) { S.flash.set(key, Date.now() + FLASH_MS); }
function flashing(key) {
  const until = S.flash.get(key);
  if (until && until > Date.now()) return true;
  S.flash.delete(key);
  return false;
}

function ageText(ms) {
  if (ms == null) return "—";
  if (ms < 1000) return `${ms} ms trước`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1).replace(".", ",")} giây trước`;
  return `${Math.round(ms / 60000)} phút trước`;
}

function card(r) {
  const [label, kind] = STATE[r.state] || STATE.unknown;
  const bar = el("span", { class: `rl-bar-fill ${r.percent >= 90 ? "full" : r.percent >= 70 ? "high" : ""}` });
  bar.style.width = `${Math.min(100, Math.max(0, r.percent))}%`;
  return el("article", { class: `rl-card state-${r.state}${flashing(`relay:${r.id}`) ? " flash" : ""}`,
    dataset: { relay: r.id } },
    el("header", {}, el("strong", { class: "rl-id" }, r.id),
      el("span", { class: `badge ${kind} rl-state` }, label)),
    el("div", { class: "rl-addr muted" }, r.address || "—"),
    el("div", { class: "rl-bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(r.percent), "aria-label": `Tải ${r.percent}%` }, bar),
    el("div", { class: "rl-load" }, el("span", { class: "rl-load-text" }, `${r.load} / ${r.capacity} phòng`),
      el("span", { class: "rl-percent" }, `${r.percent}%`)),
    el("div", { class: "rl-meta muted" }, `Tín hiệu sống: ${ageText(r.heartbeat_age_ms)}`),
    el("div", { class: "rl-meta muted" }, r.meetings.length
      ? `Cuộc họp: ${r.meetings.map((m) => meetingName(r, m)).join("; ")}` : "Chưa phục vụ cuộc họp nào"));
}

// A meeting's title when the viewer may see it (the API leaves the others' out), else its number.
function meetingName(r, id) {
  const title = (r.meeting_titles || {})[id];
  return title ? `${title} (số ${id})` : `số ${id}`;
}

async function loadRelays() {
  const data = await api("/api/relays");
  const note = $("#rl-note");
  note.hidden = !data.message;
  note.textContent = data.message || "";
  for (const r of data.relays) {
    const before = S.relays.get(r.id);
    if (before && before.state !== r.state) flash(`relay:${r.id}`);
    S.relays.set(r.id, r);
  }
  $("#rl-count").textContent = String(data.relays.length);
  $("#rl-cards").replaceChildren(...data.relays.map(card));
  const alive = data.relays.filter((r) => r.state !== "dead").length;
  $("#rl-sub").textContent = data.mode === "embedded"
    ? "Chế độ nhúng: một bộ chuyển tiếp trong tiến trình máy chủ"
    : `${alive} máy chủ đang chạy, ${data.relays.length - alive} mất kết nối · cập nhật mỗi giây`;
}

function relayRow(r) {
  const [label, kind] = STATE[r.state] || STATE.unknown;
  const moved = r.rooms.filter((room) => flashing(`room:${room.id}`));
  const details = el("details", { dataset: { relay: r.id } },
    el("summary", {},
      el("span", { class: "rl-role" }, ROLE[r.role] || r.role),
      el("strong", {}, r.id),
      el("span", { class: `badge ${kind}` }, label),
      el("span", { class: "rl-rooms-count" }, `${r.rooms.length} phòng`),
      r.percent != null ? el("span", { class: "muted" }, `tải ${r.percent}%`) : null,
      r.role !== "root" ? el("span", { class: "muted" },
        r.link ? (LINK_STATE[r.link.state] || `Liên kết: ${r.link.state}`) : "Liên kết: không phản hồi") : null,
      r.backup ? el("span", { class: "muted" }, `dự phòng: ${r.backup}`) : null),
    el("ul", { class: "rl-room-list" }, r.rooms.map((room) =>
      el("li", { class: flashing(`room:${room.id}`) ? "flash" : "", dataset: { room: String(room.id) } }, room.name))));
  if (S.open.has(r.id)) details.open = true;
  details.addEventListener("toggle", () => (details.open ? S.open.add(r.id) : S.open.delete(r.id)));
  const row = el("li", { class: `rl-node role-${r.role}${flashing(`relay:${r.id}`) || moved.length ? " flash" : ""}`,
    dataset: { relay: r.id } }, details);
  if (moved.length) row.append(el("div", { class: "rl-moved" },
    `Vừa chuyển sang: ${moved.map((room) => room.name).join(", ")}`));
  return row;
}

/** Root first, then each relay under the one that feeds it. */
function ordered(relays) {
  const children = new Map();
  for (const r of relays) {
    const p = r.role === "root" ? "" : (r.parent || "");
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(r);
  }
  const out = [];
  const walk = (id, depth) => {
    for (const r of children.get(id) || []) {
      if (out.includes(r)) continue;
      out.push(Object.assign(r, { depth }));
      walk(r.id, depth + 1);
    }
  };
  walk("", 0);
  for (const r of relays) if (!out.includes(r)) out.push(Object.assign(r, { depth: 1 }));
  return out;
}

async function loadTree() {
  if (!S.meeting) return;
  const data = await api(`/api/meetings/${S.meeting}/relays`);
  for (const r of data.relays) {
    const before = S.relays.get(r.id);
    if (before && before.state !== r.state && r.state !== "unknown") flash(`relay:${r.id}`);
    for (const room of r.rooms) {
      const was = S.rooms.get(room.id);
      if (was && was !== r.id) flash(`room:${room.id}`);
      S.rooms.set(room.id, r.id);
    }
  }
  const note = $("#rl-tree-note");
  note.textContent = data.message
    || `Lượt phương án ${data.epoch} · gốc ${data.root} · ${data.levels} tầng · `
       + `${data.relays.reduce((n, r) => n + r.rooms.length, 0)} phòng trên ${data.relays.length} máy chủ`;
  $("#rl-tree").replaceChildren(...ordered(data.relays).map((r) => {
    const row = relayRow(r);
    row.style.marginInlineStart = `${Math.min(r.depth, 4) * 20}px`;
    return row;
  }));
}

async function refresh() {
  try {
    await loadRelays();
    await loadTree();
    $("#rl-error").hidden = true;
  } catch (e) {
    if (e.status === 401) return signIn();
    $("#rl-error").textContent = errorText(e, "tải danh sách máy chủ truyền hình");
    $("#rl-error").hidden = false;
  } finally {
    clearTimeout(S.timer);
    S.timer = setTimeout(refresh, REFRESH_MS);
  }
}

async function loadMeetings() {
  const list = await api("/api/meetings");
  const order = { live: 0, test_run: 1, scheduled: 2, ended: 3 };
  list.sort((a, b) => (order[a.state] ?? 4) - (order[b.state] ?? 4) || b.id - a.id);
  const select = $("#rl-meeting");
  select.append(...list.filter((m) => m.state !== "ended").map((m) =>
    el("option", { value: String(m.id) }, `${m.title} (${STATE_LABEL[m.state] || m.state})`)));
  // Opened from the console (its header's "Máy chủ"): the meeting the console was showing.
  let fromConsole = null;
  try { fromConsole = new URL(document.referrer).searchParams.get("meeting"); } catch (e) { /* no referrer */ }
  const wanted = params().get("meeting") || (/^\d+$/.test(fromConsole || "") ? fromConsole : null);
  if (wanted) {
    if (![...select.options].some((o) => o.value === wanted)) select.append(el("option", { value: wanted }, `Cuộc họp số ${wanted}`));
    select.value = wanted;
    S.meeting = wanted;
  }
  select.addEventListener("change", () => {
    S.meeting = select.value || null;
    S.rooms.clear();
    const url = new URL(location.href);
    if (S.meeting) url.searchParams.set("meeting", S.meeting); else url.searchParams.delete("meeting");
    history.replaceState(null, "", url);
    if (!S.meeting) {
      $("#rl-tree").replaceChildren();
      $("#rl-tree-note").textContent = "Chọn một cuộc họp để xem phòng nào đi qua máy chủ nào.";
    }
    refresh();
  });
}

async function boot() {
  try {
    await loadMeetings();
  } catch (e) {
    if (e.status === 401) return signIn();
    $("#rl-error").textContent = errorText(e, "tải danh sách cuộc họp");
    $("#rl-error").hidden = false;
  }
  refresh();
}

boot();
