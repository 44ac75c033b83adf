// The console's "Liên kết phòng" dialog: every room's sign-in link, copy and CSV, and revoking them.
import { api } from "./meeting.js";
import { meetingId, nameOf } from "./host-common.js";
import { ask, el, toast } from "./ui.js";

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

export async function showLinks() {
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
