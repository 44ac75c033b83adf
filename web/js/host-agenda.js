// The console's agenda editor (add, rename, move, remove items), document upload, publishing the
// agenda to the rooms, and the read receipts (which room opened which document).
import { api } from "./meeting.js";
import { csrfToken } from "./docs.js";
import { H, S, log, meetingId, send } from "./host-common.js";
import { refreshAgenda } from "./host-docs.js";
import { $, ask, el, errorText, fmtTime, toast } from "./ui.js";

export function itemTools(item) {
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
    toast(`${what}: ${errorText(err)}`, "error");
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
    const data = await api(`/api/agenda/meetings/${meetingId}/publish`, { method: "POST" });
    toast(`Đã phát hành chương trình (lần ${data.number})`, "ok");
  } catch (err) {
    toast(`Chưa phát hành được: ${errorText(err, "phát hành chương trình họp")}`, "error");
  } finally {
    btn.disabled = false;
  }
}

export async function loadReceipts() {
  let r;
  try { r = await api(`/api/agenda/meetings/${meetingId}/receipts`); } catch (err) { return toast(errorText(err, "tải danh sách đã đọc"), "error"); }
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

export function wireAgenda() {
  $("#upload-form").onsubmit = (e) => { e.preventDefault(); upload(); };
  $("#item-form").onsubmit = (e) => { e.preventDefault(); addItem(); };
  $("#item-box").addEventListener("toggle", () => { if ($("#item-box").open) fillPresenters(); });
  $("#receipts-refresh").onclick = loadReceipts;
  $("#btn-publish").onclick = publishAgenda;
}
