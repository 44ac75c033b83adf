// Rooms that dropped are impossible to miss (issue 12, item 5): how many rooms are online of those invited, an
// alert when one drops, and the list of rooms lost, each with "Gọi lại" (QR code, link, resend: host-callback.js).
// A reload rebuilds the list from the timeline's last join/leave of each room.
import { S, nameOf } from "./host-common.js";
import { showCallback } from "./host-callback.js";
import { focusRow } from "./host-rooms.js";
import { LEAVE_WHY } from "./host-timeline.js";
import { $, el } from "./ui.js";

// Taken out by the chair (or its link revoked): the chair did it, the room is not "lost".
const BY_CHAIR = new Set(["dropped", "token_revoked"]);
/** room_id -> {at: Date, reason}: rooms that were in the meeting and are not any more. */
export const lost = new Map();
let alertClosed = false;

const clock = (d) => d.toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const why = (reason) => LEAVE_WHY[reason] || "rời họp";

/** A `presence` event: a room back online leaves the list; one gone (not by the chair) joins it, with an alert. */
export function onPresence(ev) {
  if (ev.room_id === S.me?.room_id) return;
  if (ev.online) {
    lost.delete(ev.room_id);
  } else if (!BY_CHAIR.has(ev.reason)) {
    lost.set(ev.room_id, { at: new Date(), reason: ev.reason || "left" });
    alertClosed = false;
  } else {
    lost.delete(ev.room_id);
  }
  renderLost();
}

/** After a (re)snapshot: rooms online again are no longer lost. */
export function syncLost() {
  for (const id of [...lost.keys()]) if (S.online.has(id) || !S.rooms.has(id)) lost.delete(id);
  renderLost();
}

/** After a reload: each room whose last word in the timeline is a leave it did not get from the chair. */
export function restoreLost(rows) {
  const last = new Map();
  for (const e of rows || []) if ((e.kind === "join" || e.kind === "leave") && e.room_id != null) last.set(e.room_id, e);
  for (const [id, e] of last) {
    if (id === S.me?.room_id || e.kind !== "leave" || S.online.has(id) || BY_CHAIR.has(e.data?.reason)) continue;
    if (!lost.has(id)) lost.set(id, { at: new Date(e.at), reason: e.data?.reason || "left" });
  }
  renderLost();
}

/** "Trực tuyến 37/40" next to the rooms' title: the invited rooms other than the chair's own. */
export function renderCounts() {
  const others = S.order.filter((id) => id !== S.me?.room_id);
  const online = others.filter((id) => S.online.has(id)).length;
  const badge = $("#rooms-online");
  badge.textContent = `Trực tuyến ${online}/${others.length}`;
  badge.title = `${online} trong ${others.length} điểm cầu được mời đang trực tuyến (không kể phòng chủ trì)`;
  badge.classList.toggle("lost", lost.size > 0);
}

export function renderLost() {
  renderCounts();
  const ids = [...lost.keys()].sort((a, b) => lost.get(b).at - lost.get(a).at);
  const panel = $("#lost-panel");
  panel.hidden = ids.length === 0;
  $("#lost-count").textContent = ids.length;
  $("#lost-list").replaceChildren(...ids.map((id) => {
    const { at, reason } = lost.get(id);
    return el("li", { dataset: { roomId: String(id) } },
      el("span", { class: "lost-name", title: nameOf(id) }, nameOf(id)),
      el("span", { class: "lost-when" }, `${clock(at)} · ${why(reason)}`),
      el("span", { class: "lost-acts" },
        el("button", { class: "btn btn-sm", title: "Tìm phòng này trong danh sách điểm cầu", onclick: () => focusRow(id) }, "Tìm"),
        el("button", { class: "btn btn-sm btn-go lost-call", title: "Mã QR và liên kết của phòng; gửi lại liên kết", onclick: () => showCallback(id) }, "Gọi lại")));
  }));
  const alert = $("#lost-alert");
  alert.hidden = ids.length === 0 || alertClosed;
  if (!alert.hidden) {
    const newest = ids[0];
    const { at, reason } = lost.get(newest);
    $("#lost-alert-text").textContent = ids.length === 1
      ? `Mất kết nối: ${nameOf(newest)} (lúc ${clock(at)}, ${why(reason)}).`
      : `${ids.length} điểm cầu đang mất kết nối — mới nhất: ${nameOf(newest)} (lúc ${clock(at)}, ${why(reason)}).`;
  }
}

export function wireLost() {
  $("#lost-alert-show").onclick = () => {
    const panel = $("#lost-panel");
    panel.scrollIntoView({ block: "nearest" });
    panel.animate([{ outlineColor: "#ffb020" }, { outlineColor: "transparent" }], { duration: 1500 });
  };
  $("#lost-alert-close").onclick = () => { alertClosed = true; renderLost(); };
}
