// The room's delegates (issue 14): the clerk of a remote room checks in the delegates seated there. Shown only
// when the meeting lists delegates at this room; follows check-ins live through window "room:event" (room.js).
// API: GET/POST /api/delegates/meetings/{id}/delegates[/{delegate_id}/checkin] with the room's token.
import { api } from "./meeting.js";
import { meetingId, token } from "./room-common.js";
import { $, el, errorText, toast } from "./ui.js";

const base = `/api/delegates/meetings/${meetingId}`;
let list = [];

function render() {
  const box = $("#room-delegates");
  if (!box) return;
  box.hidden = list.length === 0;
  const present = list.filter((d) => d.checked_in).length;
  box.replaceChildren(
    el("header", {}, "Đại biểu tại điểm cầu", el("span", { class: "spacer" }),
      el("span", { class: "badge", id: "rd-count" }, `${present}/${list.length} có mặt`)),
    el("ul", { class: "rd-list" }, ...list.map((d) => el("li", { dataset: { delegateId: String(d.id) } },
      el("span", { class: "rd-name" }, d.name, d.position ? el("small", { class: "muted" }, ` · ${d.position}`) : null),
      d.checked_in ? el("span", { class: "badge state-live" }, "Có mặt")
        : el("button", { class: "btn btn-sm btn-go", onclick: (e) => checkIn(d, e.target) }, "Điểm danh")))));
}

async function load() {
  try {
    list = (await api(`${base}/delegates`, { token })).delegates;
  } catch (e) {
    list = [];
  }
  render();
}

async function checkIn(d, btn) {
  btn.disabled = true;
  try {
    const out = await api(`${base}/delegates/${d.id}/checkin`, { token, method: "POST" });
    Object.assign(d, out.delegate);
    render();
  } catch (e) {
    btn.disabled = false;
    toast(errorText(e, "điểm danh đại biểu"), "error", 8000);
  }
}

window.addEventListener("room:event", (e) => {
  const ev = e.detail;
  if (ev.event !== "delegate_checkin") return;
  const d = list.find((x) => x.id === ev.delegate_id);
  if (d) { d.checked_in = true; render(); }
});

if (meetingId && $("#room-delegates")) load();
