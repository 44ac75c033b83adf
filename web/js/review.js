// The review page (issue 10, items 7-9): the ended meetings a reviewer may see, and one meeting
// replayed: the one-file recording when it is built (so seeking covers the whole meeting), else its
// segments one after another, in a <video>; chapters, roll call, attendance, the document page that was
// on every screen at the current playback time, and the download. Times are seconds from the meeting's
// origin (the first segment's start), as GET /api/recordings/meetings/{id} gives them.
import { $, el, fmtClock, fmtTime, params, ROLL_LABEL, STATE_LABEL } from "./ui.js";
import { csrfToken, PageLoader, pickWidth } from "./docs.js";

// file: the one-file recording's {t0, url} once it is ready (null: play the segments)
const S = { data: null, seg: -1, pending: null, docKey: null, file: null, exp: null, wantDownload: false, poll: null };
const pages = new PageLoader();
const LIST_MAX = 500;  // confserver/recording/review.py lists at most this many (the newest)

async function api(url, method = "GET") {
  const headers = method === "GET" ? {} : { "X-CSRFToken": csrfToken() };
  const resp = await fetch(url, { method, headers, credentials: "same-origin" });
  let body = null;
  try { body = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) {
    const err = new Error(body?.message || `Lỗi ${resp.status}`);
    err.status = resp.status;
    err.code = body?.code;
    throw err;
  }
  return body;
}

function signIn() {
  location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search + location.hash)}`;
}

function fail(err, title) {
  if (err.status === 401) return signIn();
  $("#rv-title").textContent = title;
  $("#rv-sub").textContent = err.message;
}

function duration(s) {
  return s == null ? "—" : fmtClock(s);
}

// ---- the list --------------------------------------------------------------------

async function showList() {
  $("#rv-list").hidden = false;
  const form = $("#rv-filter");
  const q = params();
  for (const k of ["unit", "date_from", "date_to", "q"]) form.elements[k].value = q.get(k) || "";
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const k of ["unit", "date_from", "date_to", "q"]) if (form.elements[k].value.trim()) p.set(k, form.elements[k].value.trim());
    history.replaceState(null, "", `?${p}`);
    loadList(p);
  };
  const p = new URLSearchParams();
  for (const k of ["unit", "date_from", "date_to", "q"]) if (q.get(k)) p.set(k, q.get(k));
  await loadList(p);
}

async function loadList(p) {
  let rows;
  try {
    rows = await api(`/api/recordings/meetings?${p}`);
  } catch (err) {
    return fail(err, "Không mở được danh sách");
  }
  $("#rv-title").textContent = "Xem lại cuộc họp";
  $("#rv-sub").textContent = rows.length >= LIST_MAX
    ? `${rows.length} cuộc họp đã kết thúc gần đây nhất; lọc theo đơn vị, ngày hoặc tên để xem các cuộc họp khác`
    : `${rows.length} cuộc họp đã kết thúc`;
  $("#rv-empty").hidden = rows.length > 0;
  $("#rv-rows").replaceChildren(...rows.map((m) => el("tr", { class: "rv-row", dataset: { id: m.id } },
    el("td", {}, el("a", { href: `/web/review.html?meeting=${m.id}` }, m.title)),
    el("td", {}, `${m.host_unit_name} (${m.host_unit})`),
    el("td", {}, fmtTime(m.started_at || m.scheduled_start)),
    el("td", {}, duration(m.duration_s)),
    el("td", {}, `${m.rooms_present}/${m.rooms_invited}`),
    el("td", {}, m.pruned ? "Bản ghi đã bị xoá theo thời hạn lưu trữ"
      : !m.recorded ? "Không có bản ghi"
      : el("span", { class: m.verified ? "rv-ok" : "rv-bad" },
        `${m.segments} đoạn · ${m.verified ? "toàn vẹn" : "chưa đóng đủ / cần kiểm tra"}`)),
  )));
}

// ---- one meeting -----------------------------------------------------------------

async function showMeeting(id) {
  $("#rv-meeting").hidden = false;
  $("#rv-back").hidden = false;
  const minutes = $("#rv-minutes");
  minutes.href = `/web/minutes.html?meeting=${encodeURIComponent(id)}`;
  minutes.hidden = false;
  let d;
  try {
    d = S.data = await api(`/api/recordings/meetings/${id}`);
  } catch (err) {
    return fail(err, "Không mở được cuộc họp");
  }
  // The player plays only segments whose files are still there (the retention removes them all at once).
  d.segments = d.segments.filter((s) => s.state !== "pruned");
  document.title = `${d.meeting.title} — Xem lại`;
  $("#rv-title").textContent = d.meeting.title;
  $("#rv-sub").textContent = `Chủ trì: ${d.meeting.host_unit_name} · ${fmtTime(d.live_at || d.meeting.scheduled_start)}`
    + ` · thời lượng ${duration(d.duration_s)} · ${d.pruned ? "bản ghi đã bị xoá theo thời hạn lưu trữ"
      : d.segments.length ? `${d.segments.length} đoạn ghi hình` : "không có bản ghi"}`;
  renderChapters(d.chapters);
  renderRoll(d.roll_call);
  renderAttendance(d.attendance);
  renderDocs(d.documents);
  loadTimeline(id, d);
  const v = $("#rv-video");
  v.addEventListener("ended", () => { if (!S.file && S.seg + 1 < d.segments.length) load(S.seg + 1, 0, true); });
  v.addEventListener("timeupdate", onTime);
  v.addEventListener("seeked", onTime);
  v.addEventListener("loadedmetadata", () => {
    if (S.pending != null) { v.currentTime = S.pending; S.pending = null; }
  });
  window.addEventListener("hashchange", () => seekTo(hashTime()));
  if (!d.segments.length) {
    $("#rv-segment").textContent = d.pruned
      ? `Bản ghi hình của cuộc họp này đã bị xoá theo thời hạn lưu trữ${d.pruned_at ? ` (ngày ${new Date(d.pruned_at).toLocaleDateString("vi-VN")})` : ""}; mục lục, điểm danh và tài liệu vẫn xem được.`
      : "Cuộc họp này không có bản ghi hình.";
    v.hidden = true;  // nothing to play
    return;
  }
  const dl = $("#rv-download");
  dl.hidden = false;
  dl.addEventListener("click", onDownload);
  let exp = null;
  try {
    exp = await api(`/api/recordings/meetings/${id}/export`);
  } catch (err) {
    if (err.status === 401) return signIn();
  }
  if (exp?.ready) useFile(exp, false);
  else seekTo(hashTime() ?? 0, false);
  if (exp) showExport(exp);
}

// ---- the one-file recording: state, download, playback ----------------------------------------------

function exportUrl() {
  return `/api/recordings/meetings/${S.data.meeting.id}/export`;
}

/** Show the export's state; poll while it is being built; switch the player to it when it is ready. */
function showExport(exp) {
  S.exp = exp;
  const dl = $("#rv-download");
  const status = $("#rv-export");
  status.textContent = exp.message;
  status.className = exp.state === "failed" ? "rv-bad" : exp.ready ? "rv-ok" : "";
  if (exp.ready) {
    dl.href = exp.download_url;
    dl.textContent = `Tải về (${(exp.bytes / 1e6).toFixed(1)} MB)`;
    dl.classList.remove("busy");
    const skipped = exp.skipped.map((s) => `đoạn ${s.index + 1}: ${s.label}`).join("; ");
    if (skipped) status.textContent += ` Không gồm ${skipped}.`;
    if (!S.file) useFile(exp, !$("#rv-video").paused);
    if (S.wantDownload) {
      S.wantDownload = false;
      location.href = exp.download_url;
    }
    return;
  }
  dl.removeAttribute("href");
  dl.hidden = exp.state === "pruned";  // nothing left to download
  const busy = exp.state === "queued" || exp.state === "running";
  dl.classList.toggle("busy", busy);
  dl.textContent = busy ? `Đang chuẩn bị tệp tải về… ${exp.progress}%`
    : exp.state === "failed" ? "Thử dựng lại tệp tải về" : "Tải về (một tệp)";
  clearTimeout(S.poll);
  if (busy) S.poll = setTimeout(refreshExport, 2000);
}

async function refreshExport() {
  try {
    showExport(await api(exportUrl()));
  } catch (err) {
    if (err.status === 401) return signIn();
    $("#rv-export").textContent = `Không xem được trạng thái tệp tải về: ${err.message}`;
    S.poll = setTimeout(refreshExport, 5000);
  }
}

async function onDownload(ev) {
  if (S.exp?.ready) return;  // the link downloads the file itself
  ev.preventDefault();
  if (S.exp && (S.exp.state === "queued" || S.exp.state === "running")) {
    S.wantDownload = true;
    return;
  }
  S.wantDownload = true;
  $("#rv-export").textContent = "Đang yêu cầu dựng tệp tải về…";
  try {
    showExport(await api(exportUrl(), "POST"));
  } catch (err) {
    if (err.status === 401) return signIn();
    $("#rv-export").textContent = `Không dựng được tệp tải về: ${err.message}`;
    $("#rv-export").className = "rv-bad";
  }
}

/** Play the one file from now on, at the same meeting time. */
function useFile(exp, play) {
  const t = S.data && S.seg >= 0 ? now() : (hashTime() ?? 0);
  S.file = { t0: exp.t0, url: exp.video_url };
  S.seg = -1;
  const v = $("#rv-video");
  S.pending = Math.max(0, t - exp.t0) || null;
  v.src = exp.video_url;
  $("#rv-segment").textContent = "Tệp gộp của cả cuộc họp";
  if (play) v.play().catch(() => {});
  showAt(t);
}

function hashTime() {
  const m = location.hash.match(/t=(\d+(?:\.\d+)?)/);
  return m ? Number(m[1]) : null;
}

/** Which segment holds meeting time `t` (the last one starting at or before it). */
function segmentAt(t) {
  const segs = S.data.segments;
  let i = 0;
  while (i + 1 < segs.length && segs[i + 1].t <= t) i += 1;
  return i;
}

function load(i, offset, play) {
  const v = $("#rv-video");
  const seg = S.data.segments[i];
  S.seg = i;
  S.pending = offset > 0 ? offset : null;
  v.src = `/api/recordings/segments/${seg.id}/file`;
  $("#rv-segment").textContent = `Đoạn ${seg.index + 1}/${S.data.segments.length}`;
  if (play) v.play().catch(() => {});
}

/** Seek the recording to meeting time `t` (seconds from the origin). */
function seekTo(t, play = true) {
  if (t == null || !S.data?.segments.length) return;
  const v = $("#rv-video");
  if (S.file) {
    const offset = Math.max(0, t - S.file.t0);
    if (v.readyState >= 1) v.currentTime = offset;
    else S.pending = offset;
    if (play) v.play().catch(() => {});
    showAt(t);
    return;
  }
  const i = segmentAt(t);
  const offset = Math.max(0, t - S.data.segments[i].t);
  if (i === S.seg && v.readyState >= 1) {
    v.currentTime = offset;
    if (play) v.play().catch(() => {});
  } else {
    load(i, offset, play);
  }
  showAt(t);
}

function now() {
  const v = $("#rv-video");
  if (S.file) return S.file.t0 + (S.pending ?? v.currentTime);
  if (S.seg < 0) return 0;
  return S.data.segments[S.seg].t + (S.pending ?? v.currentTime);
}

function onTime() {
  showAt(now());
}

function showAt(t) {
  $("#rv-pos").textContent = fmtClock(t);
  const link = $("#rv-link");
  link.href = `#t=${Math.floor(t)}`;
  for (const li of document.querySelectorAll("#rv-chapters li")) {
    li.classList.toggle("current", Number(li.dataset.start) <= t && t < Number(li.dataset.end));
  }
  showDoc(S.data.documents.find((p) => p.start <= t && (p.end == null || t < p.end)) || null);
}

function showDoc(p) {
  const key = p ? `${p.version_id}/${p.page}` : null;
  if (key === S.docKey) return;
  S.docKey = key;
  const img = $("#rv-doc-img");
  if (!p) {
    $("#rv-doc-label").textContent = "Không trình chiếu tài liệu.";
    img.hidden = true;
    return;
  }
  $("#rv-doc-label").textContent = `${p.title || "Tài liệu"} — trang ${p.page}`;
  pages.load(p.version_id, p.page, pickWidth(img.parentElement.clientWidth || 480)).then((url) => {
    if (S.docKey !== key) return;
    img.src = url;
    img.hidden = false;
  }, (err) => {
    if (S.docKey !== key) return;
    img.hidden = true;
    $("#rv-doc-label").textContent += ` (không tải được trang: ${err.message})`;
  });
}

function timeLink(t, text) {
  return el("a", { href: `#t=${Math.floor(t)}`, class: "t" }, text ?? fmtClock(t));
}

function renderChapters(chapters) {
  $("#rv-chapters").replaceChildren(...(chapters.length ? chapters.map((c) => el("li", {
    class: `chapter chapter-${c.kind}`, dataset: { start: c.start, end: c.end ?? 1e12, room: c.room_id ?? "" },
    onclick: (ev) => { ev.preventDefault(); history.replaceState(null, "", `#t=${Math.floor(c.start)}`); seekTo(c.start); },
  }, timeLink(c.start), c.title, c.end != null ? ` (${fmtClock(c.end - c.start)})` : ""))
    : [el("li", {}, "Không có mục lục.")]));
}

function renderRoll(rows) {
  $("#rv-roll").replaceChildren(...(rows.length ? rows.map((r) => el("tr", {},
    el("td", {}, r.room_name, el("br"), el("small", {}, r.unit_name)),
    el("td", {}, ROLL_LABEL[r.roll_call] || "—", r.absence_reason ? ` — ${r.absence_reason}` : ""),
  )) : [el("tr", {}, el("td", {}, "Không có dữ liệu điểm danh."))]));
}

// Why a room left (the `leave` rows' reason; "left": it left by itself, nothing to add).
const LEAVE_REASON = {
  dropped: "bị chủ trì ngắt khỏi cuộc họp",
  connection_lost: "mất kết nối",
  gone_during_outage: "mất kết nối khi máy chủ gián đoạn",
  token_revoked: "liên kết phòng bị thu hồi",
  flood: "gửi quá nhiều yêu cầu, bị ngắt",
  join_failed: "vào họp không thành công",
};

function leaveReason(reason) {
  if (!reason || reason === "left") return "";
  return ` (${LEAVE_REASON[reason] || "lý do khác"})`;
}

function renderAttendance(rows) {
  $("#rv-attendance").replaceChildren(...(rows.length ? rows.map((e) => el("li", {},
    timeLink(Math.max(0, e.t), new Date(e.at).toLocaleTimeString("vi-VN")), " ",
    e.kind === "join" ? "Vào: " : "Rời: ", e.room_name, e.kind === "leave" ? leaveReason(e.reason) : "",
  )) : [el("li", {}, "Không có dữ liệu.")]));
}

// ---- the timeline (issue 10, item 8): every control action, in Vietnamese ------------------------------

const REC_BY = { chair: "chủ trì", auto: "tự động khi khai mạc", meeting_ended: "khi kết thúc cuộc họp", restart: "tự động sau khi máy chủ truyền hình khởi động lại" };
const REC_FAILURE = {
  queue_full: "máy ghi không theo kịp", disk_error: "lỗi ổ đĩa hoặc hết chỗ lưu", start_failed: "không bắt đầu được",
  stop_failed: "máy ghi không trả lời khi dừng", restarted: "máy chủ khởi động lại",
};

/** One timeline row as a sentence; null for the rows the page shows elsewhere (who came and left). */
function describe(e, room) {
  const x = e.data || {};
  const by = x.by && REC_BY[x.by] ? ` (${REC_BY[x.by]})` : "";
  switch (e.kind) {
    case "join": case "leave": return null;
    case "created": return "Tạo cuộc họp";
    case "invited": return "Mời thêm điểm cầu";
    case "state": return `Cuộc họp: ${STATE_LABEL[x.state] || "chuyển trạng thái"}`;
    case "hand_raised": return `${room} xin phát biểu`;
    case "hand_lowered": return `${room} thôi xin phát biểu`;
    case "floor_granted": return `${room} được phát biểu`;
    case "floor_released": return `${room} kết thúc phát biểu`;
    case "floor_revoked": return `Chủ trì kết thúc phần phát biểu của ${room}`;
    case "floor_present": return `${room} được trình chiếu tài liệu`;
    case "broadcast": return `Phát hình ${room}`;
    case "lecture_mode": return "Về hình chủ trì";
    case "muted": return x.muted === false ? `Bật tiếng ${room}` : `Tắt tiếng ${room}`;
    case "unmuted": return `Bật tiếng ${room}`;
    case "dropped": return `Chủ trì ngắt ${room} khỏi cuộc họp`;
    case "roll_call_start": return "Bắt đầu điểm danh";
    case "roll_call_end": return "Kết thúc điểm danh";
    case "roll_call_answer": return `${room} báo có mặt`;
    case "roll_call_mark": return `Điểm danh ${room}: ${ROLL_LABEL[x.status] || "cập nhật"}${x.reason ? ` — ${x.reason}` : ""}`;
    case "agenda_item": return x.item_id == null ? "Ngoài chương trình họp" : `Nội dung ${x.position ?? ""}: ${x.title || "(chưa công bố)"}`;
    case "agenda_published": return "Phát hành chương trình họp";
    case "document_version": return `Tải lên tài liệu${x.title ? ` “${x.title}”` : ""}`;
    case "present": return `Trình chiếu${x.title ? ` “${x.title}”` : " tài liệu"}${x.page ? `, trang ${x.page}` : ""}`;
    case "present_stop": return "Dừng trình chiếu tài liệu";
    case "recording_started": return `Bắt đầu ghi hình${by}`;
    case "recording_stopped": return `Dừng ghi hình${by}`;
    case "recording_failed": return `Ghi hình gián đoạn: ${REC_FAILURE[x.code] || "lỗi máy ghi"}`;
    default: return "Thao tác khác";
  }
}

async function loadTimeline(id, d) {
  const list = $("#rv-timeline");
  list.replaceChildren(el("li", { class: "muted" }, "Đang tải diễn biến…"));
  let rows;
  try {
    rows = await api(`/api/meetings/${encodeURIComponent(id)}/timeline`);
  } catch (err) {
    if (err.status === 401) return signIn();
    list.replaceChildren(el("li", { class: "rv-bad" }, `Không tải được diễn biến cuộc họp: ${err.message}`));
    return;
  }
  const names = new Map([...d.roll_call, ...d.attendance].map((r) => [r.room_id, r.room_name]));
  const origin = d.origin ? new Date(d.origin).getTime() : null;
  const items = [];
  for (const e of rows) {
    const text = describe(e, names.get(e.room_id) || (e.room_id ? `Phòng ${e.room_id}` : "Điểm cầu"));
    if (text == null) continue;
    const clock = new Date(e.at).toLocaleTimeString("vi-VN");
    const t = origin == null ? null : (new Date(e.at).getTime() - origin) / 1000;
    // Before the recording began (the test run) there is no moment to link to: the time alone.
    items.push(el("li", {}, t != null && t >= 0 ? timeLink(t, clock) : el("span", { class: "t" }, clock), " ", text));
  }
  list.replaceChildren(...(items.length ? items : [el("li", {}, "Không có dữ liệu.")]));
}

function renderDocs(rows) {
  $("#rv-docs").replaceChildren(...(rows.length ? rows.map((p) => el("li", {},
    timeLink(p.start), `${p.title || "Tài liệu"} — trang ${p.page}`,
  )) : [el("li", {}, "Không trình chiếu tài liệu nào.")]));
}

const id = params().get("meeting");
if (id) showMeeting(id);
else showList();
