// Rooms by district (issue 12, item 6): in the pre-2025 structure (province → districts → communes) the rooms'
// table is grouped by district, each group folds away, the list can be narrowed to one district, and a district's
// rooms are selected at once for the bulk actions (mute, unmute, send their links again). The room search folds
// accents: "thuan hoa" finds "Thuận Hóa".
import { api } from "./meeting.js";
import { S, nameOf, send } from "./host-common.js";
import { resendLink } from "./host-callback.js";
import { $, ask, el, toast } from "./ui.js";

const DISTRICT = 2; // rooms.models.Level

/** Lower case without diacritics (đ → d): what the search compares. */
export function fold(text) {
  return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[đĐ]/g, "d").toLowerCase();
}

export const G = {
  on: false, // grouped: the rooms span two districts or more
  of: new Map(), // room_id -> district code ("" for rooms above the districts)
  groups: new Map(), // code -> {code, name, folded, ids: [room ids]}
  collapsed: new Set(),
  selected: new Set(),
};

let units = null; // unit code -> {name, level, parent_code}

/** The host unit's subtree, once: which district each unit lies in. */
export async function loadUnits() {
  if (units || !S.meeting) return;
  try {
    const rows = await api(`/api/units/${encodeURIComponent(S.meeting.host_unit)}/subtree`);
    units = new Map(rows.map((u) => [u.code, u]));
  } catch (err) {
    units = new Map(); // no grouping; the flat list still works
  }
}

function districtOf(code) {
  for (let u = units?.get(code), hops = 0; u && hops < 8; u = units.get(u.parent_code), hops += 1) {
    if (u.level === DISTRICT) return u;
    if (u.level > DISTRICT) continue;
    return null; // the province (or above): no district
  }
  return null;
}

/** Group S.order by district; returns the order rooms are drawn in (the rooms of each group together). */
export function groupRooms() {
  G.of.clear();
  G.groups.clear();
  for (const id of S.order) {
    const r = S.rooms.get(id);
    const d = districtOf(r.unit_code);
    const code = d ? d.code : "";
    if (!G.groups.has(code)) {
      const name = d ? d.name : "Cấp tỉnh, thành phố";
      G.groups.set(code, { code, name, folded: fold(name), ids: [] });
    }
    G.groups.get(code).ids.push(id);
    G.of.set(id, code);
  }
  G.on = [...G.groups.keys()].filter(Boolean).length >= 2;
  for (const id of [...G.selected]) if (!S.rooms.has(id)) G.selected.delete(id);
  renderDistrictFilter();
  renderBulk();
  return G.on ? [...G.groups.values()].flatMap((g) => g.ids) : S.order;
}

function renderDistrictFilter() {
  const sel = $("#rooms-district");
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "Mọi quận, huyện"),
    ...[...G.groups.values()].filter((g) => g.code).map((g) => el("option", { value: g.code }, `${g.name} (${g.ids.length})`)));
  sel.value = G.groups.has(keep) ? keep : "";
  sel.hidden = !G.on;
}

/** The header row of a district's group: fold, select the whole district, the name and who is online. */
export function groupHeader(g) {
  const toggle = el("button", { class: "grp-toggle", type: "button", title: "Thu gọn / mở rộng", dataset: { district: g.code } });
  const box = el("input", { type: "checkbox", class: "grp-select", dataset: { district: g.code },
    title: `Chọn cả ${g.name}`, "aria-label": `Chọn cả ${g.name}` });
  const tr = el("tr", { class: "grp", dataset: { district: g.code } },
    el("td", { colspan: "9" }, toggle, box, el("span", { class: "grp-name" }, g.name), " ",
      el("span", { class: "grp-count muted" })));
  g.tr = tr;
  refreshGroup(g.code);
  return tr;
}

/** A room's own checkbox, for the bulk actions (not for the chair's room). */
export function roomBox(id) {
  return el("input", { type: "checkbox", class: "room-select", dataset: { roomId: String(id) },
    checked: G.selected.has(id) || null, "aria-label": `Chọn ${nameOf(id)}`, title: "Chọn phòng này" });
}

/** Whether a room passes the search text and the district filter (the other filters are host-rooms.js's). */
export function matchesText(id) {
  const r = S.rooms.get(id);
  const q = fold($("#rooms-search").value.trim());
  const district = $("#rooms-district").value;
  if (G.on && district && G.of.get(id) !== district) return false;
  if (!q) return true;
  const g = G.groups.get(G.of.get(id));
  return fold(r.name).includes(q) || r.unit_code.includes(q) || (G.on && !!g?.code && g.folded.includes(q));
}

/** Folded away: hidden unless a search is typed (a search shows what it finds). */
export function isFolded(id) {
  return G.on && G.collapsed.has(G.of.get(id)) && !$("#rooms-search").value.trim();
}

/** A group's header: its counts, its checkbox, hidden when none of its rooms passes the filters. */
export function refreshGroup(code, visibleIds = null) {
  const g = G.groups.get(code);
  if (!g?.tr) return;
  const online = g.ids.filter((id) => S.online.has(id)).length;
  g.tr.querySelector(".grp-count").textContent = `${online}/${g.ids.length} trực tuyến`;
  const folded = G.collapsed.has(code);
  const toggle = g.tr.querySelector(".grp-toggle");
  toggle.textContent = folded ? "▸" : "▾";
  toggle.setAttribute("aria-expanded", String(!folded));
  const pickable = g.ids.filter((id) => id !== S.me?.room_id);
  const picked = pickable.filter((id) => G.selected.has(id)).length;
  const box = g.tr.querySelector(".grp-select");
  box.checked = pickable.length > 0 && picked === pickable.length;
  box.indeterminate = picked > 0 && picked < pickable.length;
  box.hidden = pickable.length === 0; // the chair's own group: nothing to pick
  if (visibleIds) g.tr.hidden = visibleIds.length === 0;
}

function setSelected(ids, on) {
  for (const id of ids) {
    if (id === S.me?.room_id) continue;
    if (on) G.selected.add(id); else G.selected.delete(id);
    const box = document.querySelector(`#rooms-body input.room-select[data-room-id="${id}"]`);
    if (box) box.checked = on;
  }
  for (const code of new Set(ids.map((id) => G.of.get(id)))) refreshGroup(code);
  renderBulk();
}

function renderBulk() {
  const bar = $("#rooms-bulk");
  bar.hidden = G.selected.size === 0;
  $("#bulk-count").textContent = `Đã chọn ${G.selected.size} phòng`;
}

async function bulk(action) {
  const ids = [...G.selected];
  if (!ids.length) return;
  if (action === "resend") {
    if (!await ask({ title: `Gửi lại liên kết cho ${ids.length} phòng?`, confirm: "Gửi lại",
      body: "Mỗi phòng được gửi lại đúng liên kết của phòng đó qua hệ thống thông báo." })) return;
    let ok = 0;
    for (const id of ids) if (await resendLink(id, { quiet: true })) ok += 1;
    if (ok) toast(`Đã gửi lại liên kết cho ${ok}/${ids.length} phòng.`, "ok");
    return;
  }
  const muted = action === "mute";
  for (const id of ids) {
    if (S.muted.has(id) === muted) continue;
    await send("mute_room", { room_id: id, muted });
  }
}

/** The controls: fold, select a district or a room, the district filter, the bulk bar. `refilter` redraws. */
export function wireDistricts(refilter) {
  $("#rooms-body").addEventListener("click", (e) => {
    const t = e.target.closest(".grp-toggle");
    if (!t) return;
    const code = t.dataset.district;
    if (G.collapsed.has(code)) G.collapsed.delete(code); else G.collapsed.add(code);
    refilter();
  });
  $("#rooms-body").addEventListener("change", (e) => {
    const t = e.target;
    if (t.classList.contains("grp-select")) setSelected(G.groups.get(t.dataset.district)?.ids || [], t.checked);
    else if (t.classList.contains("room-select")) setSelected([Number(t.dataset.roomId)], t.checked);
  });
  $("#rooms-district").onchange = refilter;
  $("#bulk-mute").onclick = () => bulk("mute");
  $("#bulk-unmute").onclick = () => bulk("unmute");
  $("#bulk-resend").onclick = () => bulk("resend");
  $("#bulk-clear").onclick = () => setSelected([...G.selected], false);
}
