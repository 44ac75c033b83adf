// Calling a room back (issue 12, item 5): its sign-in link as a QR code for a phone to read, the link to copy,
// and "Gửi lại liên kết" through the notification webhook (confserver/rooms/callback.py).
import { api } from "./meeting.js";
import { meetingId, nameOf } from "./host-common.js";
import { el, errorText, toast } from "./ui.js";

/** Send one room its link again through the webhook; true when the server took it. */
export async function resendLink(roomId, { quiet = false } = {}) {
  try {
    await api(`/api/meetings/${meetingId}/rooms/${roomId}/resend-link`, { method: "POST" });
  } catch (err) {
    toast(`${nameOf(roomId)}: ${errorText(err, "gửi lại liên kết")}`, "error", 8000);
    return false;
  }
  if (!quiet) toast(`Đã gửi lại liên kết cho ${nameOf(roomId)}.`, "ok");
  return true;
}

/** The QR code the server drew (an SVG of our own link), as a node. */
export function qrNode(svgText) {
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") return el("p", { class: "muted" }, "Không vẽ được mã QR.");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Mã QR liên kết phòng");
  return document.importNode(svg, true);
}

/** The "Gọi lại phòng" dialog: QR code, link, copy, resend through the webhook. */
export async function showCallback(roomId) {
  let link;
  try {
    link = await api(`/api/meetings/${meetingId}/rooms/${roomId}/link`);
  } catch (err) {
    return toast(errorText(err, "lấy liên kết phòng"), "error", 8000);
  }
  const copy = async () => {
    try { await navigator.clipboard.writeText(link.url); } catch (e) {
      const ta = el("textarea", {}, link.url);
      document.body.append(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    toast("Đã sao chép liên kết", "ok", 1500);
  };
  const until = new Date(link.expires_at).toLocaleString("vi-VN", { hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit" });
  const dlg = el("dialog", { class: "dialog callback-dialog", dataset: { roomId: String(roomId) } },
    el("h2", {}, `Gọi lại ${nameOf(roomId)}`),
    el("p", { class: "muted" }, "Người ở phòng họp quét mã này bằng điện thoại hoặc máy tính bảng để mở lại đúng liên kết của phòng; "
      + "hoặc gửi lại liên kết qua hệ thống thông báo."),
    el("div", { class: "qr-box", id: "callback-qr" }, qrNode(link.qr_svg)),
    el("code", { class: "callback-url" }, link.url),
    el("p", { class: "muted small" }, `Liên kết dùng được đến ${until}.`),
    el("div", { class: "dialog-actions" },
      el("button", { class: "btn", onclick: copy }, "Sao chép liên kết"),
      el("button", { class: "btn btn-go", id: "callback-resend", onclick: async (e) => {
        e.target.disabled = true;
        try { await resendLink(roomId); } finally { e.target.disabled = false; }
      } }, "Gửi lại liên kết"),
      el("button", { class: "btn btn-primary", onclick: () => dlg.close() }, "Đóng")));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}
