// The meetings page of the host operator (issue 12, item 4): the unit's meetings (live, upcoming, ended);
// create and schedule one (title, start, end, test-run time, place), invite by the tree and see the count
// before saving, edit an upcoming meeting (the server refuses once it is live), copy a past one at a new time.
// Addresses: ?new=1, ?edit=<id>, ?copy=<id> open the form directly (the console links to them).
import { $, el, errorText, fmtTime, params, STATE_LABEL } from "./ui.js";
import { api } from "./meeting.js";
import { LEVEL_NAME, UnitTree } from "./meetings-tree.js";

const S = { me: null, unit: null, meetings: [], nodes: null, tree: null, form: null };
const GROUPS = [
  ["live", "Đang họp", (m) => m.state === "live"],
  ["upcoming", "Sắp diễn ra", (m) => m.state === "scheduled" || m.state === "test_run"],
  ["ended", "Đã kết thúc", (m) => m.state === "ended"],
];

function signIn() {
  location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
}

// ---- times: <input type=datetime-local> holds local wall-clock time without a zone -------------------

const pad = (n) => String(n).padStart(2, "0");

function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}

/** The chosen time in Vietnamese under its field: the field itself is drawn in the browser's own language. */
function sayWhen() {
  for (const note of document.querySelectorAll("[data-when-for]")) {
    const value = document.getElementById(note.dataset.whenFor).value;
    const d = value ? new Date(value) : null;
    note.textContent = d
      ? `${d.toLocaleDateString("vi-VN", { weekday: "long", day: "2-digit", month: "2-digit", year: "numeric" })}`
        + ` lúc ${pad(d.getHours())}:${pad(d.getMinutes())}`
      : "Chưa đặt";
  }
}

/** "08:00–10:00, 07/01/2030" for one day; both ends in full otherwise. */
function fmtSpan(startIso, endIso) {
  const a = new Date(startIso), b = new Date(endIso);
  const time = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const day = (d) => `${pad(d.getDate())}/${pad(d.getMonth() + 1)}/${d.getFullYear()}`;
  return day(a) === day(b) ? `${time(a)}–${time(b)}, ${day(a)}` : `${fmtTime(startIso)} – ${fmtTime(endIso)}`;
}

function tomorrowAt(h, m = 0) {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(h, m, 0, 0);
  return d.toISOString();
}

// ---- the list -------------------------------------------------------------------------------------

async function loadList() {
  S.meetings = await api("/api/meetings");
  const box = $("#mt-groups");
  box.replaceChildren(...GROUPS.map(([key, title, test]) => {
    let rows = S.meetings.filter(test);
    if (key === "upcoming") rows = rows.reverse(); // the soonest first
    return el("section", { class: "panel mt-group", id: `mt-${key}` },
      el("header", {}, title, el("span", { class: "spacer" }), el("span", { class: "count" }, rows.length)),
      el("div", { class: "body" }, rows.length ? rows.map(card)
        : el("p", { class: "empty" }, key === "upcoming" ? "Chưa có cuộc họp nào sắp diễn ra." : "Không có.")));
  }));
}

function card(m) {
  const editable = m.state === "scheduled" || m.state === "test_run";
  return el("article", { class: "mt-card", "data-meeting": m.id },
    el("div", { class: "mt-card-head" },
      el("h3", {}, m.title),
      el("span", { class: `badge state-${m.state}` }, STATE_LABEL[m.state] || m.state)),
    el("dl", { class: "mt-facts" },
      el("div", {}, el("dt", {}, "Thời gian"), el("dd", {}, fmtSpan(m.scheduled_start, m.scheduled_end))),
      m.test_run_at ? el("div", {}, el("dt", {}, "Chạy thử"), el("dd", {}, fmtTime(m.test_run_at))) : null,
      m.place ? el("div", {}, el("dt", {}, "Địa điểm"), el("dd", {}, m.place)) : null,
      el("div", {}, el("dt", {}, "Số phòng mời"), el("dd", { class: "mt-rooms" }, m.invited_rooms))),
    el("div", { class: "mt-actions" },
      m.state !== "ended" ? el("a", { class: "btn btn-sm btn-primary", href: `/web/host.html?meeting=${m.id}` }, "Điều hành") : null,
      editable ? el("button", { class: "btn btn-sm", type: "button", "data-edit": m.id, onclick: () => openForm("edit", m) }, "Sửa") : null,
      el("button", { class: "btn btn-sm", type: "button", "data-copy": m.id, onclick: () => openForm("copy", m) }, "Sao chép")));
}

// ---- the form -------------------------------------------------------------------------------------

async function ensureTree() {
  if (!S.nodes) S.nodes = await api(`/api/units/${encodeURIComponent(S.unit.code)}/tree`);
  if (!S.tree) {
    S.tree = new UnitTree($("#mt-tree"), S.nodes, { onChange: showCount });
    drawPresets();
  }
  return S.tree;
}

function drawPresets() {
  const t = S.tree, levels = t.levels();
  const presets = [["Toàn bộ đơn vị", {}]];
  if (levels.includes(2)) presets.push(["Chỉ đến cấp huyện", { maxLevel: 2 }]);
  if (levels.includes(3)) presets.push(["Tất cả xã, phường", { onlyLevel: 3 }]);
  presets.push(["Bỏ chọn hết", { onlyLevel: -1 }]);
  $("#mt-presets").replaceChildren(...presets.map(([label, p]) =>
    el("button", { class: "btn btn-sm", type: "button", onclick: () => t.preset(p) }, label)));
}

function showCount(c) {
  const parts = Object.keys(c.byLevel).sort().map((lvl) => `${c.byLevel[lvl]} ${LEVEL_NAME[lvl] || "đơn vị"}`);
  $("#mt-count").textContent = `${c.rooms} phòng`;
  $("#mt-count-detail").textContent = `${c.units} đơn vị: ${parts.join(", ")}`
    + (c.noRoom ? ` (${c.noRoom} đơn vị chưa có phòng họp)` : "");
}

async function openForm(mode, meeting = null) {
  S.form = { mode, meeting, initial: null };
  $("#mt-done").hidden = true;
  const form = $("#mt-form"), f = form.elements;
  form.reset();
  $("#mt-error").hidden = true;
  $("#mt-list").hidden = true;
  $("#mt-editor").hidden = false;
  $("#btn-new").hidden = true;
  $("#mt-form-title").textContent = { new: "Tạo cuộc họp mới", edit: "Sửa cuộc họp", copy: "Sao chép cuộc họp" }[mode];
  $("#mt-form-note").textContent = {
    new: "Chọn các đơn vị được mời trong cây; số phòng được mời hiện ở cuối trang trước khi lưu.",
    edit: meeting?.state === "test_run"
      ? "Đang chạy thử: chỉ mời thêm được phòng, không bỏ được phòng đã mời."
      : "Sửa được đến trước khi khai mạc.",
    copy: `Cùng danh sách mời với “${meeting?.title}”; hãy đặt thời gian mới.`,
  }[mode];
  $("#btn-save").textContent = mode === "edit" ? "Lưu thay đổi" : "Tạo cuộc họp";
  // Busy until the meeting's invitation is in the tree: the tree still shows the previous form's choice, and a box
  // ticked meanwhile was undone when the invitation arrived (or saved with the wrong rooms).
  form.setAttribute("aria-busy", "true");
  $("#btn-save").disabled = true;
  try { await fillForm(form, mode, meeting); } finally {
    form.removeAttribute("aria-busy");
    $("#btn-save").disabled = false;
  }
  sayWhen();
  history.replaceState(null, "", mode === "new" ? "?new=1" : `?${mode}=${meeting.id}`);
  f.title.focus();
}

async function fillForm(form, mode, meeting) {
  const f = form.elements;
  const tree = await ensureTree();
  tree.search("");
  $("#mt-search").value = "";
  if (mode === "new") {
    f.title.value = "";
    f.start.value = toLocalInput(tomorrowAt(8));
    f.end.value = toLocalInput(tomorrowAt(11));
    f.test_run.value = toLocalInput(tomorrowAt(7, 30));
    tree.lock([]);
    tree.preset({});
  } else {
    f.title.value = meeting.title;
    f.place.value = meeting.place || "";
    if (mode === "edit") {
      f.start.value = toLocalInput(meeting.scheduled_start);
      f.end.value = toLocalInput(meeting.scheduled_end);
      f.test_run.value = toLocalInput(meeting.test_run_at);
    }
    const inv = await api(`/api/meetings/${meeting.id}/invitation`);
    tree.lock(mode === "edit" && meeting.state === "test_run" ? inv.unit_codes : []);
    tree.set(inv.unit_codes);
    S.form.initial = tree.codes().join(",");
  }
}

function closeForm() {
  S.form = null;
  $("#mt-editor").hidden = true;
  $("#mt-list").hidden = false;
  $("#btn-new").hidden = false;
  history.replaceState(null, "", location.pathname);
}

function showError(text) {
  const box = $("#mt-error");
  box.textContent = text;
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

async function save(ev) {
  ev.preventDefault();
  const f = $("#mt-form").elements, { mode, meeting, initial } = S.form;
  const details = {
    title: f.title.value.trim(),
    scheduled_start: fromLocalInput(f.start.value),
    scheduled_end: fromLocalInput(f.end.value),
    test_run_at: fromLocalInput(f.test_run.value),
    place: f.place.value.trim(),
  };
  if (!details.title) return showError("Hãy nhập tiêu đề cuộc họp.");
  if (!details.scheduled_start || !details.scheduled_end) return showError("Hãy chọn giờ bắt đầu và giờ kết thúc.");
  if (details.scheduled_end <= details.scheduled_start) return showError("Giờ kết thúc phải sau giờ bắt đầu.");
  const codes = S.tree.codes();
  const participants = { mode: "units", unit_codes: codes };
  const same = initial === codes.join(",");
  const button = $("#btn-save");
  button.disabled = true;
  try {
    let saved;
    if (mode === "edit") {
      saved = await api(`/api/meetings/${meeting.id}`, { method: "PATCH", body: same ? details : { ...details, participants } });
    } else if (mode === "copy" && same) { // the very same rooms, even where a unit has several
      saved = await api(`/api/meetings/${meeting.id}/copy`, { method: "POST", body: details });
    } else {
      saved = await api("/api/meetings", { method: "POST", body: { ...details, host_unit: S.unit.code, participants } });
    }
    closeForm();
    await loadList();
    // Said on the page, not in a toast over it (issue 12, item 14).
    const done = $("#mt-done");
    done.textContent = `${mode === "edit" ? "Đã lưu" : "Đã tạo"} cuộc họp “${saved.title}”: mời ${saved.invited_rooms} phòng.`;
    done.hidden = false;
    document.querySelector(`[data-meeting="${saved.id}"]`)?.classList.add("mt-fresh");
  } catch (err) {
    if (err.status === 401) return signIn();
    showError(errorText(err, "lưu cuộc họp"));
  } finally {
    button.disabled = false;
  }
}

// ---- start ---------------------------------------------------------------------------------------

async function main() {
  try {
    S.me = await api("/api/accounts/me");
  } catch (err) {
    if (err.status === 401) return signIn();
    $("#mt-sub").textContent = errorText(err, "mở trang");
    return;
  }
  if (S.me.role !== "host" && S.me.role !== "admin") {
    $("#mt-sub").textContent = "Trang này dành cho tài khoản điều hành cuộc họp.";
    return;
  }
  try {
    S.unit = await api("/api/units/mine");
    $("#mt-sub").textContent = `Đơn vị chủ trì: ${S.unit.name}`;
    await loadList();
  } catch (err) {
    $("#mt-sub").textContent = errorText(err, "tải danh sách cuộc họp");
    return;
  }
  $("#mt-list").hidden = false;
  $("#btn-new").hidden = false;
  $("#btn-new").onclick = () => openForm("new").catch((err) => showError(errorText(err, "mở biểu mẫu")));
  // Back to the list as it is now: a meeting may have opened meanwhile (then it offers no "Sửa").
  $("#btn-cancel").onclick = () => { closeForm(); loadList().catch((err) => { $("#mt-sub").textContent = errorText(err); }); };
  $("#mt-form").onsubmit = save;
  $("#mt-form").oninput = sayWhen;
  $("#mt-search").oninput = (e) => S.tree?.search(e.target.value);
  $("#btn-expand").onclick = () => S.tree?.expandAll(true);
  $("#btn-collapse").onclick = () => S.tree?.expandAll(false);
  const q = params();
  const wanted = q.get("edit") || q.get("copy");
  const m = wanted && S.meetings.find((x) => String(x.id) === wanted);
  if (q.get("new")) await openForm("new");
  else if (m) await openForm(q.get("edit") ? "edit" : "copy", m);
}

main();
