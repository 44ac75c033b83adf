// Small DOM helpers and the Vietnamese labels both pages share.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** el("div", {class: "x", onclick: f}, "text", child…) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") node.style.cssText = v;  // CSSOM: a style attribute is refused by the CSP (issue 13)
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const STATE_LABEL = {
  scheduled: "Đã lên lịch",
  test_run: "Đang chạy thử",
  live: "Đang họp",
  ended: "Đã kết thúc",
};

export const ROLL_LABEL = {
  not_marked: "Chưa điểm danh",
  present_online: "Có mặt (trực tuyến)",
  present_in_person: "Có mặt (trực tiếp)",
  absent: "Vắng mặt",
};

export const MODE_LABEL = {
  lecture: "Chủ trì phát biểu",
  floor: "Phòng đang phát biểu",
  broadcast: "Đang phát hình phòng",
};

/** What to tell a person when something failed (issue 12, item 12): a refusal or failure the page knows of
 *  (a RequestError, with a code) says it in Vietnamese already; a fault of the page itself ("Cannot read
 *  properties of null…") is explained in Vietnamese here, and its technical text goes to the console. */
export function errorText(err, doing = "") {
  if (err && err.code) return err.message;
  console.error(err);
  return `Chưa ${doing || "thực hiện thao tác"} được: trang gặp lỗi. Hãy thử lại; nếu vẫn lỗi, hãy tải lại trang (F5).`;
}

/** A short message at the bottom of the screen. */
export function toast(text, kind = "info", ms = 4500) {
  let box = $("#toasts");
  if (!box) {
    box = el("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const t = el("div", { class: `toast toast-${kind}` }, text);
  box.append(t);
  setTimeout(() => t.remove(), ms);
}

/** A modal question; resolves with the entered text (prompt) or true, or null when cancelled. */
export function ask({ title, body = "", confirm = "Đồng ý", cancel = "Hủy", input = null, value = "", danger = false }) {
  return new Promise((resolve) => {
    const field = input ? el("input", { type: "text", class: "input", placeholder: input, maxlength: "300" }) : null;
    if (field) field.value = value;
    const close = (value) => { dlg.close(); dlg.remove(); resolve(value); };
    const ok = el("button", { class: `btn ${danger ? "btn-danger" : "btn-primary"}`, type: "submit" }, confirm);
    const dlg = el("dialog", { class: "dialog" },
      el("form", { method: "dialog", onsubmit: (e) => {
        e.preventDefault();
        if (field && !field.value.trim()) { field.focus(); return; }
        close(field ? field.value.trim() : true);
      } },
        el("h2", {}, title),
        body ? el("p", {}, body) : null,
        field,
        el("div", { class: "dialog-actions" },
          el("button", { class: "btn", type: "button", onclick: () => close(null) }, cancel), ok)));
    dlg.addEventListener("cancel", () => close(null));
    document.body.append(dlg);
    dlg.showModal();
    (field || ok).focus();
  });
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString("vi-VN", { hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit", year: "numeric" });
}

export function fmtClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? `${h}:` : "") + `${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
}

export function params() {
  return new URLSearchParams(location.search);
}
