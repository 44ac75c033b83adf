// The minutes (biên bản) editor (issue 10, item 11): the chair side edits the draft generated from the
// meeting's record, types the conclusions, saves, finalises (then it is read-only, its PDF signed when
// the server has a certificate) and downloads the PDF; reviewers read. Unsaved edits are never dropped:
// a failed save keeps them on the page, a copy is kept in this browser's localStorage until a save
// succeeds (offered back after a reload), and leaving the page with unsaved edits asks first.
import { $, ask, el, fmtTime, params, toast } from "./ui.js";
import { csrfToken } from "./docs.js";

const meetingId = params().get("meeting");
const API = `/api/minutes/meetings/${meetingId}`;
const BACKUP_KEY = `confserver.minutes.${meetingId}`;
// base: the updated_at the form was loaded from (null: an unsaved draft), sent back so the server refuses
// to overwrite someone else's newer save (409 minutes_changed). edits counts changes, to tell whether
// the user typed again while a save was on its way.
const S = { data: null, base: null, dirty: false, busy: false, edits: 0, savedEdits: 0 };

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(url, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "network", "Không kết nối được tới máy chủ.");
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) {
    const message = resp.status === 401 ? "Phiên đăng nhập đã hết hạn."
      : data?.code === "invalid" ? "Dữ liệu không hợp lệ (có thể một ô quá dài)."
        : data?.message || `Lỗi máy chủ (${resp.status}).`;
    throw new ApiError(resp.status, data?.code || `http_${resp.status}`, message);
  }
  return data;
}

function signInUrl() {
  return `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
}

// ---- status -------------------------------------------------------------------------

function status(text, kind = "") {
  const s = $("#mn-status");
  s.className = kind;
  s.replaceChildren(...(Array.isArray(text) ? text : [text]));
}

function markDirty() {
  S.edits += 1;
  S.dirty = true;
  status("Có thay đổi chưa lưu.", "dirty");
  backupSoon();
}

let backupTimer = null;
function backupSoon() {
  clearTimeout(backupTimer);
  backupTimer = setTimeout(backupNow, 400);
}

function backupNow() {
  clearTimeout(backupTimer);
  if (!S.dirty) return;
  try {
    localStorage.setItem(BACKUP_KEY, JSON.stringify({ at: new Date().toISOString(), base: S.base, fields: collect() }));
  } catch (e) { /* storage full or disabled: the page still warns before leaving */ }
}

function readBackup() {
  try { return JSON.parse(localStorage.getItem(BACKUP_KEY) || "null"); } catch (e) { return null; }
}

function dropBackup() {
  try { localStorage.removeItem(BACKUP_KEY); } catch (e) { /* ignore */ }
}

window.addEventListener("beforeunload", (ev) => {
  if (!S.dirty) return;
  backupNow();
  ev.preventDefault();
  ev.returnValue = "";
});

// ---- the form -----------------------------------------------------------------------

function autoGrow(t) {
  t.style.height = "auto";
  t.style.height = `${t.scrollHeight + 2}px`;
}

function lineRow(text) {
  const t = el("textarea", { class: "input mn-line-text", rows: "1", maxlength: "5000", "aria-label": "Dòng nội dung" });
  t.value = text;
  return el("div", { class: "mn-line" }, t,
    el("button", { class: "btn btn-sm mn-icon", type: "button", title: "Xóa dòng", "aria-label": "Xóa dòng", dataset: { act: "del-line" } }, "✕"));
}

function sectionBox(section) {
  const heading = el("input", { class: "input mn-heading", maxlength: "500", "aria-label": "Tên mục" });
  heading.value = section.heading || "";
  return el("article", { class: "mn-section" },
    el("div", { class: "mn-section-head" }, el("span", { class: "no" }), heading,
      el("button", { class: "btn btn-sm mn-icon", type: "button", title: "Chuyển lên", "aria-label": "Chuyển mục lên", dataset: { act: "up" } }, "↑"),
      el("button", { class: "btn btn-sm mn-icon", type: "button", title: "Chuyển xuống", "aria-label": "Chuyển mục xuống", dataset: { act: "down" } }, "↓")),
    el("div", { class: "mn-lines" }, (section.lines || []).map(lineRow)),
    el("div", { class: "mn-tools" },
      el("button", { class: "btn btn-sm", type: "button", dataset: { act: "add-line" } }, "Thêm dòng"),
      el("button", { class: "btn btn-sm btn-danger", type: "button", dataset: { act: "del-section" } }, "Xóa mục")));
}

function renumber() {
  [...$("#mn-sections").children].forEach((s, i) => { $(".no", s).textContent = String(i + 1); });
  for (const t of document.querySelectorAll("#mn-form textarea")) autoGrow(t);
}

function fill(fields) {
  $("#mn-number").value = fields.number || "";
  $("#mn-place").value = fields.place || "";
  $("#mn-chair").value = fields.chair_name || "";
  $("#mn-secretary").value = fields.secretary_name || "";
  $("#mn-conclusions").value = fields.conclusions || "";
  $("#mn-sections").replaceChildren(...(fields.content || []).map(sectionBox));
  renumber();
}

function collect() {
  return {
    number: $("#mn-number").value.trim(),
    place: $("#mn-place").value.trim(),
    chair_name: $("#mn-chair").value.trim(),
    secretary_name: $("#mn-secretary").value.trim(),
    content: [...$("#mn-sections").children].map((s) => ({
      heading: $(".mn-heading", s).value.trim(),
      lines: [...s.querySelectorAll(".mn-line-text")].map((t) => t.value.replace(/\s+$/, "")).filter((x) => x.trim()),
    })),
    conclusions: $("#mn-conclusions").value.replace(/\s+$/, ""),
  };
}

function onSectionClick(ev) {
  const b = ev.target.closest("button[data-act]");
  if (!b) return;
  const section = b.closest(".mn-section");
  const list = $("#mn-sections");
  switch (b.dataset.act) {
    case "add-line": {
      const row = lineRow("");
      $(".mn-lines", section).append(row);
      $("textarea", row).focus();
      break;
    }
    case "del-line": b.closest(".mn-line").remove(); break;
    case "up": if (section.previousElementSibling) list.insertBefore(section, section.previousElementSibling); break;
    case "down": if (section.nextElementSibling) list.insertBefore(section.nextElementSibling, section); break;
    case "del-section": {
      const name = $(".mn-heading", section).value.trim() || "mục này";
      ask({ title: "Xóa mục?", body: `Xóa “${name}” cùng mọi dòng của nó khỏi biên bản (chưa lưu cho tới khi bấm Lưu).`,
        confirm: "Xóa mục", danger: true }).then((ok) => {
        if (!ok) return;
        section.remove();
        renumber();
        markDirty();
      });
      return;
    }
    default: return;
  }
  renumber();
  markDirty();
}

// ---- showing the minutes --------------------------------------------------------------

function sealText(r, final) {
  if (!r.segments) return [el("p", {}, "Cuộc họp không có bản ghi hình.")];
  const note = r.fixed ? " (chốt khi hoàn thành biên bản)" : " (hiện tại; được chốt vào biên bản khi hoàn thành)";
  if (r.unfinished) {
    return [el("p", {}, `Bản ghi hình: ${r.segments} đoạn, còn đoạn đang ghi hoặc chờ khôi phục${final ? "" : " — chưa hoàn thành được biên bản"}.`)];
  }
  return [el("p", {}, `Bản ghi hình: ${r.segments} đoạn${note}.`),
    el("p", {}, "Mã băm đoạn ghi hình cuối: ", el("code", { id: "mn-hash" }, r.last_sha256))];
}

function facts(d) {
  return [
    el("div", {}, "Cơ quan: ", el("b", {}, d.agency)),
    el("div", {}, "Bắt đầu: ", el("b", {}, d.start ? fmtTime(d.start) : "…"), " · Kết thúc: ", el("b", {}, d.end ? fmtTime(d.end) : "chưa kết thúc")),
  ];
}

function header(d) {
  document.title = `Biên bản: ${d.meeting_title || d.agency} — Hội nghị trực tuyến`;
  const state = $("#mn-state");
  const final = d.state === "final";
  state.textContent = final ? (d.signed ? "Đã hoàn thành · đã ký số" : "Đã hoàn thành") : (d.saved ? "Dự thảo" : "Dự thảo (chưa lưu)");
  state.className = `badge ${final ? "ok" : "warn"}`;
  $("#mn-sub").textContent = final
    ? `Hoàn thành lúc ${fmtTime(d.finalized_at || d.updated_at)}${d.updated_by ? ` bởi ${d.updated_by}` : ""}`
      + (d.signed ? ` · ký số: ${d.signer}` : " · không ký số")
    : d.saved ? `Lưu lần cuối ${fmtTime(d.updated_at)}${d.updated_by ? ` bởi ${d.updated_by}` : ""}`
      : "Dự thảo tạo từ dữ liệu cuộc họp, chưa lưu";
  $("#mn-pdf").href = `${API}/pdf`;
  $("#mn-pdf").setAttribute("download", `bien-ban-${meetingId}.pdf`);
  $("#mn-pdf").textContent = final ? (d.signed ? "Tải PDF đã ký số" : "Tải PDF") : "Tải PDF (dự thảo)";
}

function showEditor(d) {
  $("#mn-view").hidden = true;
  $("#mn-form").hidden = false;
  $("#mn-save").hidden = false;
  $("#mn-finalize").hidden = false;
  $("#mn-facts").replaceChildren(...facts(d));
  $("#mn-seal-edit").replaceChildren(...sealText(d.recording, false));
  fill(d);
  setBusy(false);
}

function showReadOnly(d) {
  $("#mn-form").hidden = true;
  $("#mn-save").hidden = true;
  $("#mn-finalize").hidden = true;
  const final = d.state === "final";
  const who = [["Số", d.number], ["Thời gian bắt đầu", d.start ? fmtTime(d.start) : "…"], ["Kết thúc", d.end ? fmtTime(d.end) : "…"], ["Địa điểm", d.place || "…"],
    ["Chủ trì (chủ tọa)", d.chair_name || "…"], ["Thư ký", d.secretary_name || "…"]];
  $("#mn-view").replaceChildren(
    el("div", { class: "muted" }, d.agency),
    el("h2", {}, "BIÊN BẢN"),
    el("div", { class: "t" }, d.meeting_title || "", final ? "" : " (dự thảo — chỉ xem)"),
    el("dl", {}, who.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("h3", {}, "Nội dung (theo diễn biến cuộc họp)"),
    ...(d.content || []).flatMap((s, i) => [el("h3", {}, `${i + 1}. ${s.heading}`), el("ul", {}, s.lines.map((x) => el("li", {}, x)))]),
    el("h3", {}, "Kết luận của chủ trì"),
    el("p", { id: "mn-view-conclusions" }, d.conclusions || "…"),
    el("h3", {}, "Bản ghi hình"),
    el("div", { class: "mn-seal" }, sealText(d.recording, final)),
  );
  $("#mn-view").hidden = false;
}

function show(d) {
  S.data = d;
  S.base = d.saved ? d.updated_at : null;
  S.dirty = false;
  $("#mn-bar").hidden = false;
  $("#mn-title").textContent = d.meeting_title ? `Biên bản: ${d.meeting_title}` : "Biên bản cuộc họp";
  $("#mn-review").href = `/web/review.html?meeting=${meetingId}`;
  $("#mn-review").hidden = d.end == null;
  header(d);
  if (d.can_edit) {
    showEditor(d);
    status(d.saved ? `Đã lưu lúc ${fmtTime(d.updated_at)}.` : "Chưa lưu: đây là dự thảo tạo từ dữ liệu cuộc họp.", d.saved ? "ok" : "");
  } else {
    showReadOnly(d);
    status(d.state === "final" ? "Biên bản đã hoàn thành, không sửa được nữa." : "Bạn chỉ có quyền xem biên bản này.");
    if (d.state === "final") dropBackup();
  }
}

function offerBackup(d) {
  const b = readBackup();
  if (!b || !d.can_edit) return;
  const current = JSON.stringify(collect());
  if (JSON.stringify(b.fields) === current) { dropBackup(); return; }
  $("#mn-restore-text").textContent = `Trên máy này còn nội dung chưa lưu từ lúc ${fmtTime(b.at)}`
    + (b.base !== S.base ? " (biên bản đã được lưu lại sau đó: khi lưu bạn sẽ được hỏi có lưu đè không)." : ".");
  $("#mn-restore").hidden = false;
  $("#mn-restore-yes").onclick = () => {
    fill(b.fields);
    S.base = b.base;
    $("#mn-restore").hidden = true;
    markDirty();
  };
  $("#mn-restore-no").onclick = () => { dropBackup(); $("#mn-restore").hidden = true; };
}

// ---- saving and finalising -------------------------------------------------------------

function failed(err, what) {
  const kept = "Nội dung bạn nhập vẫn còn trên trang và được giữ trên máy này.";
  if (err.status === 401) {
    status([`${what} không thành công: phiên đăng nhập đã hết hạn. ${kept} `,
      el("a", { href: signInUrl(), target: "_blank", rel: "opener" }, "Đăng nhập lại"), " rồi bấm Lưu."], "bad");
  } else {
    status(`${what} không thành công: ${err.message} ${kept}`, "bad");
  }
  toast(`${what} không thành công: ${err.message}`, "error");
}

/** Save the form; true when the server has it. `overwrite`: do not check for someone else's newer save. */
async function save({ overwrite = false } = {}) {
  if (S.busy) return false;
  const fields = collect();
  const at = S.edits;
  setBusy(true);
  status("Đang lưu…");
  backupNow();
  try {
    const body = overwrite ? fields : { ...fields, expected_updated_at: S.base };
    const d = await api(API, { method: "PUT", body });
    S.data = d;
    S.base = d.updated_at;
    header(d);
    if (S.edits === at) {
      S.dirty = false;
      dropBackup();
      status(`Đã lưu lúc ${fmtTime(d.updated_at)}.`, "ok");
    } else {
      status("Đã lưu; có thay đổi mới chưa lưu.", "dirty");
      backupNow();
    }
    return true;
  } catch (err) {
    if (err.code === "minutes_changed") {
      status(`Chưa lưu: ${err.message}`, "bad");
      setBusy(false);
      const ok = await ask({ title: "Biên bản vừa được người khác lưu", body: `${err.message} Lưu đè bằng nội dung trên trang này?`,
        confirm: "Lưu đè", cancel: "Không lưu", danger: true });
      if (ok) return save({ overwrite: true });
      return false;
    }
    failed(err, "Lưu");
    return false;
  } finally {
    setBusy(false);
  }
}

/** While a request is on its way nothing else is sent; finalising waits for the end of the meeting. */
function setBusy(busy) {
  S.busy = busy;
  $("#mn-save").disabled = busy;
  const ended = S.data?.end != null;
  $("#mn-finalize").disabled = busy || !ended;
  $("#mn-finalize").title = ended ? "" : "Chỉ hoàn thành biên bản khi cuộc họp đã kết thúc.";
}

async function finalize() {
  if (S.busy) return;
  if (S.dirty || !S.data.saved) {
    if (!(await save())) return;
  }
  const d = S.data;
  const sealNote = d.recording.segments
    ? " Số đoạn và mã băm đoạn ghi hình cuối được chốt vào biên bản."
    : "";
  const ok = await ask({
    title: "Hoàn thành biên bản?",
    body: `Sau khi hoàn thành, không ai sửa được biên bản số ${d.number} nữa.${sealNote}`
      + (d.signing_configured ? " Tệp PDF được ký số bằng chứng thư số của cơ quan." : " Máy chủ chưa cấu hình chứng thư số: tệp PDF không được ký số."),
    confirm: "Hoàn thành", cancel: "Hủy",
  });
  if (!ok) return;
  setBusy(true);
  status("Đang hoàn thành biên bản…");
  try {
    const done = await api(`${API}/finalize`, { method: "POST", body: { expected_updated_at: S.base } });
    dropBackup();
    show(done);
    toast(done.signed ? "Đã hoàn thành và ký số biên bản." : "Đã hoàn thành biên bản.", "ok");
  } catch (err) {
    if (err.code === "minutes_number_required") $("#mn-number").focus();
    failed(err, "Hoàn thành biên bản");
  } finally {
    setBusy(false);
  }
}

async function downloadPdf(ev) {
  if (!S.dirty) return; // the link downloads what the server has
  ev.preventDefault();
  const ok = await ask({ title: "Lưu trước khi tải?", body: "Tệp PDF được tạo từ bản đã lưu. Lưu các thay đổi trên trang rồi tải?",
    confirm: "Lưu rồi tải", cancel: "Hủy" });
  if (ok && await save()) {
    const a = el("a", { href: `${API}/pdf`, download: `bien-ban-${meetingId}.pdf` });
    document.body.append(a);
    a.click();
    a.remove();
  }
}

// ---- start ----------------------------------------------------------------------------

async function start() {
  if (!meetingId || !/^\d+$/.test(meetingId)) {
    $("#mn-error").hidden = false;
    $("#mn-error").textContent = "Thiếu số cuộc họp trong địa chỉ (…/web/minutes.html?meeting=số).";
    return;
  }
  let d;
  try {
    d = await api(API);
  } catch (err) {
    if (err.status === 401) { location.href = signInUrl(); return; }
    $("#mn-title").textContent = "Không mở được biên bản";
    $("#mn-error").hidden = false;
    $("#mn-error").textContent = err.message;
    return;
  }
  show(d);
  offerBackup(d);
  const form = $("#mn-form");
  form.addEventListener("input", (ev) => {
    if (ev.target.tagName === "TEXTAREA") autoGrow(ev.target);
    markDirty();
  });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); save(); });
  $("#mn-sections").addEventListener("click", onSectionClick);
  $("#mn-add-section").addEventListener("click", () => {
    const box = sectionBox({ heading: "", lines: [""] });
    $("#mn-sections").append(box);
    renumber();
    $(".mn-heading", box).focus();
    markDirty();
  });
  $("#mn-save").addEventListener("click", () => save());
  $("#mn-finalize").addEventListener("click", finalize);
  $("#mn-pdf").addEventListener("click", downloadPdf);
  document.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "s" && S.data?.can_edit) {
      ev.preventDefault();
      save();
    }
  });
  window.addEventListener("resize", () => { for (const t of document.querySelectorAll("#mn-form textarea")) autoGrow(t); });
}

start();
