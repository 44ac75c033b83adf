// The console's "Liên kết phòng" dialog: every room's sign-in link, copy and CSV, and revoking them.
import { api } from "./meeting.js";
import { S, meetingId, nameOf } from "./host-common.js";
import { G, fold } from "./host-districts.js";
import { ask, el, errorText, toast } from "./ui.js";

/** Revoke one room's links (or all): the room is cut off and its old link stops working; a new one is handed out
 * the next time the dialog opens. */
async function revokeLinks(roomId) {
  const who = roomId === null ? "mọi phòng" : nameOf(roomId);
  if (!await ask({ title: `Thu hồi liên kết của ${who}?`, danger: true, confirm: "Thu hồi",
    body: "Liên kết cũ không dùng được nữa và phòng đang kết nối bằng nó bị ngắt. Mở lại “Liên kết phòng” để lấy liên kết mới." })) return;
  try {
    await api(`/api/meetings/${meetingId}/room-tokens${roomId === null ? "" : `?room_id=${roomId}`}`, { method: "DELETE" });
  } catch (err) {
    return toast(errorText(err, "thu hồi liên kết"), "error");
  }
  document.querySelector("dialog.links-dialog")?.close();
  toast(`Đã thu hồi liên kết của ${who}.`, "ok");
}

/** "Hết hạn 17:30 02/12/2026" (this terminal's time, as the rest of the console), or "Đã hết hạn". */
function expiryText(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  const at = `${p(d.getHours())}:${p(d.getMinutes())} ${p(d.getDate())}/${p(d.getMonth() + 1)}/${d.getFullYear()}`;
  return d.getTime() <= Date.now() ? `Đã hết hạn lúc ${at}` : `Hết hạn ${at}`;
}

/** The links by district in the pre-2025 structure (as the rooms' table), else one group; never the chair's room. */
function grouped(links) {
  const out = new Map();
  for (const l of links) {
    const code = G.on ? G.of.get(l.room_id) ?? "" : "";
    if (!out.has(code)) out.set(code, []);
    out.get(code).push(l);
  }
  const order = G.on ? [...G.groups.keys()].filter((c) => out.has(c)) : [...out.keys()];
  return order.map((code) => ({ code, name: G.on ? G.groups.get(code)?.name || "" : "", links: out.get(code) }));
}

export async function showLinks() {
  let links;
  try {
    links = await api(`/api/meetings/${meetingId}/room-tokens`);
  } catch (err) {
    return toast(errorText(err, "lấy liên kết phòng"), "error");
  }
  // The chair speaks from its own room through this console: no terminal link for it (the server leaves it out too).
  links = links.filter((l) => l.room_id !== S.me?.room_id);
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
  const csv = "phong,lien_ket,het_han\n" + links.map((l) => `"${nameOf(l.room_id).replace(/"/g, '""')}",${full(l)},${l.expires_at}`).join("\n");
  const rows = new Map(); // room_id -> {row, text}
  const groups = grouped(links).map((g) => {
    const items = g.links.map((l) => {
      const r = S.rooms.get(l.room_id);
      const row = el("div", { class: "row", dataset: { roomId: String(l.room_id) } },
        el("div", {}, el("strong", {}, nameOf(l.room_id)), " ", el("span", { class: "link-expiry muted small" }, expiryText(l.expires_at)),
          el("br"), el("code", {}, full(l))),
        el("button", { class: "btn btn-sm", onclick: () => copy(full(l)) }, "Sao chép"),
        el("button", { class: "btn btn-sm", onclick: () => revokeLinks(l.room_id) }, "Thu hồi"));
      rows.set(l.room_id, { row, text: fold(`${nameOf(l.room_id)} ${r?.unit_code || ""} ${g.name}`) });
      return row;
    });
    const head = g.name ? el("div", { class: "links-group-head" }, el("span", { class: "links-group-name" }, g.name),
      el("span", { class: "muted small" }, ` ${g.links.length} phòng`)) : "";
    return el("section", { class: "links-group", dataset: { district: g.code } }, head, items);
  });
  const none = el("p", { class: "muted", id: "links-none", hidden: true }, "Không có phòng nào khớp với từ tìm kiếm.");
  const search = el("input", { class: "input", id: "links-search", type: "search", placeholder: "Tìm phòng, quận, huyện…",
    title: "Gõ có dấu hay không dấu đều được", "aria-label": "Tìm liên kết của phòng" });
  search.oninput = () => {
    const q = fold(search.value.trim());
    let any = false;
    for (const { row, text } of rows.values()) {
      row.hidden = !!q && !text.includes(q);
      any ||= !row.hidden;
    }
    for (const g of groups) g.hidden = ![...g.querySelectorAll(".row")].some((r) => !r.hidden);
    none.hidden = any;
  };
  const dlg = el("dialog", { class: "dialog wide links-dialog" },
    el("h2", {}, "Liên kết đăng nhập của các phòng"),
    el("p", { class: "muted" }, "Gửi mỗi phòng đúng liên kết của phòng đó. Liên kết chỉ dùng cho cuộc họp này, hết hạn vài giờ sau giờ kết thúc dự kiến (ghi bên tên phòng) và có thể thu hồi; phòng không cần tài khoản. Phòng của chủ trì không có liên kết: chủ trì họp từ bảng điều khiển này."),
    search,
    el("div", { class: "links-list" }, groups, none),
    el("div", { class: "dialog-actions" },
      el("button", { class: "btn btn-danger", onclick: () => revokeLinks(null) }, "Thu hồi tất cả"),
      el("a", { class: "btn", download: `lien-ket-phong-hop-${meetingId}.csv`, href: `data:text/csv;charset=utf-8,${encodeURIComponent("\ufeff" + csv)}` }, "Tải tệp CSV"),
      el("button", { class: "btn", onclick: () => copy(lines) }, "Sao chép tất cả"),
      el("button", { class: "btn btn-primary", onclick: () => dlg.close() }, "Đóng")));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}
