// The console's delegates (issue 14): present / expected and the quorum, live; the list of delegates with the
// secretary's check-in, each one's personal link and QR code, adding one, importing a CSV/XLSX list (errors named
// by line), sending the links ahead through the notification webhook, and the hall's QR code for check-in.
// API: /api/delegates/meetings/{id}/… (confserver/delegates/api.py). Loaded on its own by host.html; follows the
// meeting's events through window "host:event" (host.js).
import { api } from "./meeting.js";
import { csrfToken } from "./docs.js";
import { qrNode } from "./host-callback.js";
import { log } from "./host-common.js";
import { DELEGATE_BY } from "./host-timeline.js";
import { $, el, errorText, params, toast } from "./ui.js";

const meetingId = Number(params().get("meeting"));
const base = `/api/delegates/meetings/${meetingId}`;
const BY_LABEL = DELEGATE_BY;
const D = { list: [], quorum: null, rooms: [], dialog: null, opened: new Map() }; // opened: delegate id -> papers opened

function quorumText(q) {
  if (!q || !q.expected) return "Chưa có danh sách đại biểu.";
  return q.met ? `Đủ số đại biểu dự họp (cần ${q.needed}).` : `Chưa đủ số đại biểu: cần ít nhất ${q.needed}.`;
}

function renderPanel() {
  const q = D.quorum;
  $("#dg-count").textContent = q ? `${q.present}/${q.expected}` : "—";
  const badge = $("#dg-quorum");
  badge.textContent = q && q.expected ? (q.met ? "Đủ số" : "Chưa đủ số") : "—";
  badge.classList.toggle("state-live", !!q?.met);
  $("#dg-text").textContent = quorumText(q);
}

async function refresh() {
  try {
    const out = await api(`${base}/delegates`);
    D.list = out.delegates;
    D.quorum = out.quorum;
    D.rule = out.rule;
  } catch (e) {
    $("#dg-text").textContent = errorText(e, "tải danh sách đại biểu");
    return;
  }
  renderPanel();
  if (D.dialog) renderTable();
}

function seatText(d) {
  return d.seat === "room" ? (d.room_name || `Phòng ${d.room_id}`) : "Hội trường";
}

function statusText(d) {
  if (!d.checked_in) return "Chưa điểm danh";
  const at = new Date(d.checked_in_at).toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit" });
  return `Có mặt ${at} (${BY_LABEL[d.checked_in_by] || d.checked_in_by})`;
}

function renderTable() {
  const body = $("#dg-rows");
  if (!body) return;
  body.replaceChildren(...D.list.map((d) => el("tr", { dataset: { delegateId: String(d.id) } },
    el("td", {}, el("strong", {}, d.name), d.position ? el("div", { class: "muted small" }, d.position) : null),
    el("td", {}, d.unit || ""),
    el("td", {}, seatText(d)),
    el("td", { class: d.checked_in ? "dg-present" : "muted" }, statusText(d)),
    el("td", { class: "num", title: "Số phiên bản tài liệu đại biểu đã mở" }, String(D.opened.get(d.id) ?? 0)),
    el("td", { class: "nowrap" },
      d.checked_in ? null : el("button", { class: "btn btn-sm btn-go", onclick: (e) => markPresent(d, e.target) }, "Điểm danh"),
      el("button", { class: "btn btn-sm", onclick: () => showLink(d) }, "Mã QR"),
      d.checked_in ? null : el("button", { class: "btn btn-sm btn-danger", title: "Xóa khỏi danh sách đại biểu",
        onclick: (e) => removeDelegate(d, e.target) }, "Xóa")))));
  $("#dg-empty").hidden = D.list.length > 0;
  $("#dg-dialog-quorum").textContent = D.quorum ? `Có mặt ${D.quorum.present}/${D.quorum.expected}. ${quorumText(D.quorum)}` : "";
}

async function removeDelegate(d, btn) {
  if (!confirm(`Xóa ${d.name} khỏi danh sách đại biểu của cuộc họp?`)) return;
  btn.disabled = true;
  try {
    await api(`${base}/delegates/${d.id}`, { method: "DELETE" });
    await refresh();
  } catch (e) {
    btn.disabled = false;
    toast(errorText(e, "xóa đại biểu"), "error", 8000);
  }
}

async function markPresent(d, btn) {
  btn.disabled = true;
  try {
    const out = await api(`${base}/delegates/${d.id}/checkin`, { method: "POST" });
    Object.assign(d, out.delegate);
    D.quorum = out.quorum;
    renderPanel();
    renderTable();
  } catch (e) {
    btn.disabled = false;
    toast(errorText(e, "điểm danh đại biểu"), "error", 8000);
  }
}

function qrDialog(title, intro, link, extra = []) {
  const dlg = el("dialog", { class: "dialog callback-dialog dg-qr-dialog" },
    el("h2", {}, title),
    el("p", { class: "muted" }, intro),
    el("div", { class: "qr-box" }, qrNode(link.qr_svg)),
    el("code", { class: "callback-url" }, link.url),
    ...extra,
    el("div", { class: "dialog-actions" },
      el("button", { class: "btn", onclick: () => copy(link.url) }, "Sao chép liên kết"),
      el("button", { class: "btn btn-primary", onclick: () => dlg.close() }, "Đóng")));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

async function copy(text) {
  try { await navigator.clipboard.writeText(text); toast("Đã sao chép liên kết", "ok", 1500); } catch (e) {
    toast("Trình duyệt không cho sao chép; hãy chọn liên kết và sao chép bằng tay.", "warn");
  }
}

async function showLink(d) {
  let link;
  try { link = await api(`${base}/delegates/${d.id}/link`); } catch (e) { return toast(errorText(e, "lấy liên kết đại biểu"), "error", 8000); }
  const until = new Date(link.expires_at).toLocaleString("vi-VN", { hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit" });
  qrDialog(`Liên kết riêng: ${d.name}`,
    "Đại biểu quét mã này bằng máy tính bảng (hoặc điện thoại) của mình để mở trang đại biểu: tài liệu, ghi chú riêng, phát biểu, biểu quyết.",
    link, [el("p", { class: "muted small" }, `Liên kết dùng được đến ${until}.`),
      el("button", { class: "btn btn-sm", onclick: (e) => sendLinks(d.id, e.target) }, "Gửi liên kết qua hệ thống thông báo"),
      el("button", { class: "btn btn-sm btn-danger", onclick: (e) => revoke(d, e.target) }, "Thu hồi liên kết cũ")]);
}

async function revoke(d, btn) {
  if (!confirm(`Thu hồi mọi liên kết đã gửi cho ${d.name}? Máy tính bảng đang dùng liên kết cũ phải mở liên kết mới.`)) return;
  btn.disabled = true;
  try {
    await api(`${base}/delegates/${d.id}/revoke`, { method: "POST" });
    btn.closest("dialog").close();
    toast(`Đã thu hồi liên kết cũ của ${d.name}; hãy gửi hoặc cho quét liên kết mới.`, "ok", 8000);
    showLink(d);
  } catch (e) {
    btn.disabled = false;
    toast(errorText(e, "thu hồi liên kết"), "error", 8000);
  }
}

async function showHall() {
  let link;
  try { link = await api(`${base}/hall`); } catch (e) { return toast(errorText(e, "lấy mã QR hội trường"), "error", 8000); }
  qrDialog("Mã QR điểm danh tại hội trường",
    "Chiếu hoặc in mã này ở cửa hội trường: đại biểu quét bằng máy tính bảng đã mở liên kết riêng của mình để điểm danh có mặt.",
    link);
}

async function sendLinks(delegateId = null, btn = null) {
  if (btn) btn.disabled = true;
  try {
    const out = await api(`${base}/send-links${delegateId ? `?delegate_id=${delegateId}` : ""}`, { method: "POST" });
    toast(`Đã gửi ${out.sent} liên kết${out.skipped ? `; ${out.skipped} đại biểu chưa có điện thoại, thư điện tử` : ""}.`, "ok", 6000);
  } catch (e) {
    toast(errorText(e, "gửi liên kết"), "error", 10000);
  } finally {
    if (btn) btn.disabled = false;
  }
}

async function addDelegate(form) {
  const f = new FormData(form);
  const roomId = f.get("room_id");
  const body = { name: f.get("name"), position: f.get("position"), unit: f.get("unit"), phone: f.get("phone"),
    email: f.get("email"), seat: roomId ? "room" : "hall", room_id: roomId ? Number(roomId) : null };
  try {
    await api(`${base}/delegates`, { method: "POST", body });
    form.reset();
    toast(`Đã thêm đại biểu ${body.name}.`, "ok");
    await refresh();
  } catch (e) {
    $("#dg-form-error").textContent = errorText(e, "thêm đại biểu");
  }
}

async function importFile(input) {
  const file = input.files[0];
  if (!file) return;
  const fd = new FormData();
  fd.append("file", file);
  $("#dg-import-error").textContent = "";
  let resp;
  try {
    resp = await fetch(`${base}/import`, { method: "POST", body: fd, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" } });
  } catch (e) {
    $("#dg-import-error").textContent = "Mất kết nối mạng tới máy chủ; hãy thử lại.";
    return;
  } finally {
    input.value = "";
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    $("#dg-import-error").textContent = data?.message || `Máy chủ trả lời lỗi ${resp.status}.`;
    return;
  }
  toast(`Đã nhập ${data.created} đại biểu.`, "ok");
  await refresh();
}

async function loadRooms() {
  try {
    const a = await api(`/api/meetings/${meetingId}/attendance`);
    D.rooms = a.rooms.map((r) => ({ id: r.room_id, name: r.room_name }));
  } catch (e) { D.rooms = []; }
}

async function loadReceipts() {
  try {
    const rows = await api(`${base}/receipts`);
    D.opened = new Map(rows.map((r) => [r.delegate_id, r.opened.length]));
  } catch (e) { /* the column shows 0 */ }
}

async function setRule(value) {
  const [numerator, denominator] = value.split("/").map(Number);
  try {
    D.quorum = await api(`${base}/quorum`, { method: "PUT", body: { numerator, denominator } });
    renderPanel();
    renderTable();
    toast(`Đủ số đại biểu khi có mặt quá ${value} tổng số.`, "ok");
  } catch (e) {
    toast(errorText(e, "đổi điều kiện đủ số"), "error", 8000);
  }
}

async function openList() {
  if (D.dialog) return;
  await Promise.all([loadRooms(), loadReceipts()]);
  const dlg = el("dialog", { class: "dialog dg-dialog", id: "dg-dialog" },
    el("h2", {}, "Đại biểu dự họp"),
    el("p", { class: "muted", id: "dg-dialog-quorum" }),
    el("label", { class: "small" }, "Đủ số đại biểu khi có mặt quá ",
      el("select", { id: "dg-rule", onchange: (e) => setRule(e.target.value) },
        el("option", { value: "1/2" }, "1/2 tổng số"), el("option", { value: "2/3" }, "2/3 tổng số"),
        el("option", { value: "3/4" }, "3/4 tổng số"))),
    el("div", { class: "table-wrap dg-table" },
      el("table", { class: "rooms" },
        el("thead", {}, el("tr", {}, el("th", {}, "Họ và tên"), el("th", {}, "Đơn vị"), el("th", {}, "Chỗ ngồi"),
          el("th", {}, "Điểm danh"), el("th", { class: "num" }, "Đã đọc"), el("th", {}))),
        el("tbody", { id: "dg-rows" }))),
    el("p", { class: "muted", id: "dg-empty", hidden: true }, "Chưa có đại biểu: thêm từng người hoặc nhập danh sách."),
    el("details", { class: "upload" }, el("summary", {}, "Thêm đại biểu"),
      el("form", { id: "dg-form", onsubmit: (e) => { e.preventDefault(); addDelegate(e.target); } },
        el("input", { class: "input", name: "name", placeholder: "Họ và tên", required: true, maxlength: 200 }),
        el("input", { class: "input", name: "position", placeholder: "Chức vụ", maxlength: 200 }),
        el("input", { class: "input", name: "unit", placeholder: "Đơn vị công tác", maxlength: 300 }),
        el("input", { class: "input", name: "phone", placeholder: "Số điện thoại", maxlength: 32 }),
        el("input", { class: "input", name: "email", type: "email", placeholder: "Thư điện tử", maxlength: 254 }),
        el("select", { name: "room_id" }, el("option", { value: "" }, "Tại hội trường"),
          ...D.rooms.map((r) => el("option", { value: String(r.id) }, `Điểm cầu: ${r.name}`))),
        el("button", { class: "btn btn-sm btn-primary", type: "submit" }, "Thêm"),
        el("div", { class: "form-error", id: "dg-form-error", role: "alert" }))),
    el("details", { class: "upload" }, el("summary", {}, "Nhập danh sách (CSV, Excel)"),
      el("p", { class: "muted small" }, "Dòng đầu là tiêu đề cột: Họ và tên, Chức vụ, Đơn vị, Điện thoại, Email, Điểm cầu "
        + "(tên phòng hoặc mã đơn vị; để trống: dự tại hội trường). Có dòng lỗi thì không lưu đại biểu nào."),
      el("input", { class: "input", type: "file", id: "dg-import", accept: ".csv,.xlsx,text/csv",
        onchange: (e) => importFile(e.target) }),
      el("div", { class: "form-error", id: "dg-import-error", role: "alert" })),
    el("div", { class: "dialog-actions" },
      el("button", { class: "btn", onclick: (e) => sendLinks(null, e.target) }, "Gửi liên kết cho tất cả"),
      el("button", { class: "btn", onclick: showHall }, "Mã QR hội trường"),
      el("button", { class: "btn btn-primary", onclick: () => dlg.close() }, "Đóng")));
  dlg.addEventListener("close", () => { dlg.remove(); D.dialog = null; });
  document.body.append(dlg);
  D.dialog = dlg;
  const rule = $("#dg-rule");
  if (![...rule.options].some((o) => o.value === D.rule)) rule.append(el("option", { value: D.rule }, `${D.rule} tổng số`));
  rule.value = D.rule || "1/2";
  renderTable();
  dlg.showModal();
}

function onEvent(ev) {
  if (ev.event !== "delegate_checkin") return;
  D.quorum = ev.quorum;
  log(`Đại biểu ${ev.name || ""} có mặt (${BY_LABEL[ev.checked_in_by] || ev.checked_in_by}) · ${ev.quorum.present}/${ev.quorum.expected}`);
  const d = D.list.find((x) => x.id === ev.delegate_id);
  if (d) Object.assign(d, { checked_in: true, checked_in_at: ev.checked_in_at, checked_in_by: ev.checked_in_by });
  else refresh();
  renderPanel();
  renderTable();
}

function start() {
  if (!meetingId || !$("#dg-panel")) return;
  $("#dg-open").onclick = openList;
  $("#dg-hall").onclick = showHall;
  window.addEventListener("host:event", (e) => onEvent(e.detail));
  refresh();
}

start();
