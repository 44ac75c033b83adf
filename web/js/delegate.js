// The delegate's page (issue 14): a delegate's tablet or phone in the hall or in a remote room.
//
// CONTRACT for the modules this page loads after it is ready (js/delegate-speak.js, js/delegate-vote.js; the page
// works without them):
//   window.delegateSession = {
//     meetingId,          // number
//     token,              // the delegate's personal link token (string), or null when signed in with an account
//     delegate,           // {id, name, position, unit, seat: "hall"|"room", room_id, room_name, checked_in, checked_in_at}
//     api(path, opts),    // fetch JSON with the delegate's credentials: opts {method, body}; rejects with
//                         //   an Error carrying .code and .status (a Vietnamese .message)
//     on(type, fn),       // fn(event) for each event of that "event" type from ws/delegates/<meeting>/
//                         //   (what live.send_to_delegates sends, and agenda_item, present, present_stop,
//                         //   agenda_published, state, delegate_checkin); on("*", fn) gets every event
//   };
//   then `delegate:ready` is dispatched on window (detail: window.delegateSession), and only then are the two
//   modules imported: at their load window.delegateSession is already set (use it; listen for delegate:ready
//   only if it is not). Each module fills its own <section id="speak"> / <section id="vote">.
// The token comes in the link's fragment (delegate.html?meeting=7#token=…, never sent to the server) and is
// kept in this browser's localStorage for the meeting, so that the hall's QR code
// (delegate.html?meeting=7&hall=<code>) checks in whoever opens it on their own tablet.
import { PageLoader, agendaTree, docLabel, pickWidth } from "./docs.js";
import { PageZoom, wireTouch } from "./room-gestures.js"; // the room viewer's zoom and swipe
import { $, STATE_LABEL, el, errorText, toast } from "./ui.js";

const query = new URLSearchParams(location.search);
const meetingId = Number(query.get("meeting"));
const STORE = `delegate-token-${meetingId}`;
const SUBPROTOCOL = "confserver";
const TOKEN_PROTOCOL = "confserver.token.";

function takeToken() {
  const frag = new URLSearchParams(location.hash.slice(1));
  let t = frag.get("token");
  if (t) {
    try { localStorage.setItem(STORE, t); } catch (e) { /* private mode: this visit only */ }
    history.replaceState(null, "", location.pathname + location.search); // off the screen and the history
  } else {
    try { t = localStorage.getItem(STORE); } catch (e) { t = null; }
  }
  return t || null;
}

const token = takeToken();
const handlers = new Map(); // type -> Set(fn)
const pages = new PageLoader({ token, scheme: "Delegate" });
const P = { items: [], docs: [], currentItem: null, present: null, view: null, follow: true, noteKey: null, noteTyped: false };

class DelegateError extends Error {
  constructor(code, message, status) { super(message); this.code = code; this.status = status; }
}

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function api(path, { method = "GET", body = null } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Delegate ${token}`;
  else if (method !== "GET") headers["X-CSRFToken"] = csrf();
  if (body) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : null, credentials: "same-origin" });
  } catch (e) {
    throw new DelegateError("network", "Mất kết nối mạng tới máy chủ; hãy kiểm tra mạng rồi thử lại.", 0);
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { /* empty body */ }
  if (!resp.ok) {
    throw new DelegateError(data?.code || `http_${resp.status}`,
      data?.message || `Máy chủ trả lời lỗi ${resp.status}; hãy thử lại sau ít phút.`, resp.status);
  }
  return data;
}

function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}

function emit(ev) {
  for (const key of [ev.event, "*"]) {
    for (const fn of handlers.get(key) || []) {
      try { fn(ev); } catch (e) { console.error(e); }
    }
  }
}

function alertBox(text, ok = false) {
  const box = $("#delegate-alert");
  box.textContent = text;
  box.classList.toggle("ok", ok);
  box.hidden = !text;
}

// ---- the socket ---------------------------------------------------------------------------

let ws = null;
let retry = 0;
let fatal = false;

function connect() {
  if (fatal) return;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${scheme}//${location.host}/ws/delegates/${meetingId}/`,
    token ? [SUBPROTOCOL, TOKEN_PROTOCOL + token] : [SUBPROTOCOL]);
  $("#conn-badge").textContent = "Đang kết nối…";
  ws.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    if (ev.event === "hello") { retry = 0; $("#conn-badge").textContent = "Đã kết nối"; }
    if (ev.event === "error") { fatal = true; alertBox(ev.message); }
    if (ev.event === "ended") { fatal = true; alertBox("Cuộc họp đã kết thúc. Tài liệu và ghi chú riêng vẫn đọc được bằng liên kết này đến khi hết hạn.", true); }
    emit(ev);
  };
  ws.onclose = (e) => {
    ws = null;
    $("#conn-badge").textContent = "Mất kết nối";
    if (e.code === 4403 || e.code === 4000) fatal = true; // refused, revoked; the meeting ended
    if (!fatal) setTimeout(connect, Math.min(15000, 500 * 2 ** retry++));
  };
}

// ---- check-in and quorum ------------------------------------------------------------------

function renderCheckin(d) {
  const badge = $("#checkin-badge");
  badge.textContent = d.checked_in ? "Đã điểm danh" : "Chưa điểm danh";
  badge.classList.toggle("state-live", !!d.checked_in);
  if (d.checked_in) {
    const at = d.checked_in_at ? new Date(d.checked_in_at).toLocaleTimeString("vi-VN") : "";
    $("#checkin-text").textContent = `Đã điểm danh có mặt${at ? ` lúc ${at}` : ""}.`;
  }
}

function renderQuorum(q) {
  if (!q) return;
  const b = $("#quorum-badge");
  b.textContent = `Có mặt ${q.present}/${q.expected}${q.met ? " · đủ số" : ""}`;
  b.title = `Cần ít nhất ${q.needed} đại biểu có mặt để đủ số đại biểu dự họp.`;
}

async function hallCheckin(code) {
  try {
    const out = await api(`/api/delegates/meetings/${meetingId}/checkin`, { method: "POST", body: { code } });
    Object.assign(session.delegate, out.delegate);
    renderCheckin(session.delegate);
    renderQuorum(out.quorum);
    alertBox(`Đã điểm danh có mặt: ${session.delegate.name}.`, true);
  } catch (e) {
    alertBox(errorText(e, "điểm danh"));
  }
  query.delete("hall");
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

// ---- papers: agenda, documents, page viewer and private notes -----------------------------

async function loadPapers() {
  try {
    const out = await api(`/api/delegates/meetings/${meetingId}/papers`);
    P.items = out.items;
    P.docs = out.documents;
    P.currentItem = out.current_item;
    P.present = out.present;
  } catch (e) {
    $("#agenda-list").replaceChildren(el("li", { class: "muted" }, errorText(e, "tải tài liệu")));
    return;
  }
  renderAgenda();
  loadMyNotes();
  if (P.present && P.follow) followPresent();
}

/** Every note of mine in this meeting, each opening its page (kept after the meeting). */
async function loadMyNotes() {
  let mine;
  try { mine = await api(`/api/delegates/meetings/${meetingId}/notes`); } catch (e) { return; }
  const byVersion = new Map();
  for (const d of P.docs) for (const v of d.versions || []) byVersion.set(v.id, { d, v });
  $("#my-notes-count").textContent = String(mine.length);
  $("#my-notes-list").replaceChildren(...mine.map((n) => {
    const found = byVersion.get(n.version_id);
    const title = found ? `${found.d.title}${found.v.is_current ? "" : ` (bản ${found.v.number})`}` : "Tài liệu";
    return el("li", {}, el("button", { class: "btn btn-sm doc-link", onclick: () => {
      if (!found) return;
      setFollow(false);
      openVersion({ document_id: found.d.id, version_id: found.v.id, title: found.d.title, page_count: found.v.page_count }, n.page);
    } }, el("span", {}, `${title}, trang ${n.page}`), el("small", { class: "doc-meta" }, n.text.slice(0, 60))));
  }));
}

function renderAgenda() {
  const list = $("#agenda-list");
  list.replaceChildren(...agendaTree(P.items, P.docs).map(({ item, docs }) => el("li",
    { class: item && P.currentItem?.id === item.id ? "current" : null },
    el("div", { class: "item-title" }, item ? item.title : "Tài liệu khác"),
    ...docs.map((d) => el("button", {
      class: "btn btn-sm doc-link", "data-document": d.id,
      onclick: () => { setFollow(false); openDoc(d, 1); },
    }, ...docLabel(d))))));
  if (!P.items.length && !P.docs.length) list.replaceChildren(el("li", { class: "muted" }, "Chưa có chương trình, tài liệu phát hành."));
  $("#current-item").textContent = P.currentItem ? `Đang thảo luận: ${P.currentItem.position}. ${P.currentItem.title}` : "";
}

function openDoc(d, page) {
  const v = d.current;
  openVersion({ document_id: d.id, version_id: v.id, title: d.title, page_count: v.page_count }, page);
}

async function openVersion(v, page) {
  P.view = { ...v, page: Math.max(1, Math.min(page, v.page_count || 1)) };
  $("#viewer").hidden = false;
  $("#viewer-title").textContent = v.title;
  renderPage();
}

async function renderPage() {
  const v = P.view;
  if (!v) return;
  $("#page-label").textContent = `Trang ${v.page}/${v.page_count}`;
  const img = $("#page-img");
  img.alt = `${v.title}, trang ${v.page}`;
  const width = pickWidth($(".page-box").clientWidth || 600);
  try {
    img.src = await pages.load(v.version_id, v.page, width);
    img.dataset.page = String(v.page);
    pages.prefetch(v.version_id, [v.page + 1], v.page_count, width);
  } catch (e) {
    toast(errorText(e, "tải trang tài liệu"), "error");
  }
  loadNote();
}

function turn(delta) {
  if (!P.view) return;
  const page = P.view.page + delta;
  if (page < 1 || page > P.view.page_count) return;
  setFollow(false);
  P.view.page = page;
  renderPage();
}

function setFollow(follow) {
  P.follow = follow;
  $("#follow").checked = follow;
  if (follow) followPresent();
}

function followPresent() {
  const ev = P.present;
  if (!ev || !P.follow) return;
  if (P.view && P.view.version_id === ev.version_id) {
    if (P.view.page !== ev.page) { P.view.page = ev.page; renderPage(); }
    return;
  }
  openVersion({ document_id: ev.document_id, version_id: ev.version_id, title: ev.title, page_count: ev.page_count }, ev.page);
}

async function loadNote() {
  const v = P.view;
  const key = `${v.version_id}/${v.page}`;
  P.noteKey = key;
  P.noteTyped = false;
  $("#note-text").value = "";
  $("#note-status").textContent = "";
  try {
    const n = await api(`/api/delegates/meetings/${meetingId}/notes/${v.version_id}/${v.page}`);
    // Not over what the delegate typed meanwhile (a slow answer would blank it, and "Lưu" then erase the note).
    if (P.noteKey === key && !P.noteTyped) $("#note-text").value = n.text || "";
  } catch (e) {
    if (P.noteKey === key) $("#note-status").textContent = errorText(e, "tải ghi chú");
  }
}

async function saveNote() {
  const v = P.view;
  if (!v) return;
  try {
    await api(`/api/delegates/meetings/${meetingId}/notes/${v.version_id}/${v.page}`,
      { method: "PUT", body: { text: $("#note-text").value } });
    $("#note-status").textContent = $("#note-text").value.trim() ? "Đã lưu ghi chú." : "Đã xóa ghi chú của trang này.";
    loadMyNotes();
  } catch (e) {
    $("#note-status").textContent = errorText(e, "lưu ghi chú");
  }
}

let zoom = null;

function wire() {
  zoom = new PageZoom({ wrap: $(".page-box"), img: $("#page-img"),
    onChange: (z) => { $("#zoom-label").textContent = `${Math.round(z * 100)} %`; } });
  wireTouch($(".page-box"), zoom, (delta) => turn(delta));
  $("#zoom-in").onclick = () => zoom.step(+1);
  $("#zoom-out").onclick = () => zoom.step(-1);
  $("#page-prev").onclick = () => turn(-1);
  $("#page-next").onclick = () => turn(+1);
  $("#note-text").addEventListener("input", () => { P.noteTyped = true; });
  $("#viewer-close").onclick = () => { P.view = null; $("#viewer").hidden = true; setFollow(false); };
  $("#follow").onchange = (e) => setFollow(e.target.checked);
  $("#note-save").onclick = saveNote;
  on("agenda_item", (ev) => { P.currentItem = ev.item; renderAgenda(); });
  on("present", (ev) => { P.present = ev; followPresent(); });
  on("present_stop", () => { P.present = null; });
  on("agenda_published", () => loadPapers());
  on("state", (ev) => { $("#meeting-title").title = STATE_LABEL[ev.state] || ""; });
  on("hello", (ev) => renderQuorum(ev.quorum));
  on("delegate_checkin", (ev) => {
    renderQuorum(ev.quorum);
    if (ev.delegate_id === session.delegate?.id) {
      Object.assign(session.delegate, { checked_in: true, checked_in_at: ev.checked_in_at });
      renderCheckin(session.delegate);
    }
  });
}

// ---- start ----------------------------------------------------------------------------------

const session = { meetingId, token, delegate: null, api, on };

function loadExtension(src) {
  // B's modules (speaking, voting); the page works without them.
  return import(src).catch((e) => console.info(`${src}: không tải được (${e.message})`));
}

async function start() {
  if (!meetingId) { alertBox("Liên kết thiếu số cuộc họp."); return; }
  let me;
  try {
    me = await api(`/api/delegates/meetings/${meetingId}/me`);
  } catch (e) {
    alertBox(e.code === "delegate_required"
      ? "Hãy mở trang này bằng liên kết (hoặc mã QR) riêng của đại biểu được gửi trước cuộc họp."
      : errorText(e, "mở trang đại biểu"));
    $("#delegate-name").textContent = "";
    return;
  }
  session.delegate = me.delegate;
  $("#meeting-title").textContent = me.meeting.title;
  document.title = `${me.delegate.name} — ${me.meeting.title}`;
  $("#delegate-name").textContent = [me.delegate.name, me.delegate.position,
    me.delegate.seat === "room" ? me.delegate.room_name : "Tại hội trường"].filter(Boolean).join(" · ");
  renderCheckin(me.delegate);
  renderQuorum(me.quorum);
  $("#delegate-main").hidden = false;
  wire();
  const hall = query.get("hall");
  if (hall) await hallCheckin(hall);
  connect();
  loadPapers();
  window.delegateSession = session;
  window.dispatchEvent(new CustomEvent("delegate:ready", { detail: session }));
  await Promise.all([loadExtension("./delegate-speak.js"), loadExtension("./delegate-vote.js")]);
}

start();
