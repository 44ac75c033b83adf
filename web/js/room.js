// The room page: a commune's terminal signs in with its link, checks its camera
// and microphone, joins, watches the program and asks for the floor.
import { MeetingClient, api } from "./meeting.js";
import { LocalMedia, MediaLink, attach, fillDeviceSelect, meanColour } from "./media.js";
import { PageLoader, agendaTree, docLabel, loadAgenda, pickWidth } from "./docs.js";
import { $, MODE_LABEL, STATE_LABEL, ask, el, fmtTime, params, toast } from "./ui.js";

const q = params();
const meetingId = Number(q.get("meeting"));
const token = roomToken();

/** The room's token: from the link's fragment (#token=…, which browsers never send, so no log keeps it),
 * then kept in sessionStorage for reloads and wiped from the address bar. */
function roomToken() {
  const key = `confserver.token.${meetingId}`;
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    try { sessionStorage.setItem(key, fromLink); } catch (e) { /* storage off: this page load only */ }
    history.replaceState(null, "", location.pathname + location.search);
    return fromLink;
  }
  try { return sessionStorage.getItem(key); } catch (e) { return null; }
}

const S = {
  meeting: null,
  names: new Map(),
  snapshot: null,
  me: null,
  state: null,
  program: null,
  queue: [],
  muted: new Set(),
  rollCall: false,
  answered: false,
  micOn: true,
  joined: false,
};

// Paperless: the agenda, the page on screen, and the synced view.
const D = {
  items: [],
  docs: [],
  loaded: false,
  currentItem: null, // {id, position, title} | null
  present: null, // the latest `present` event (or sync_state.present), null when nobody presents
  following: true, // in the synced view: the viewer follows `present`
  view: null, // {document_id, version_id, title, page, page_count}
  shown: null, // "version/page" of the image on screen
  syncSeq: -1,
  tab: "video",
  loadedAt: 0,
};
const pages = new PageLoader({ token });
let pageLoad = 0;

const local = new LocalMedia();
let client = null;
let media = null;
let meterStop = null;

window.confserver = {
  get state() { return S; },
  get docs() { return D; },
  get client() { return client; },
  get media() { return media; },
  get pc() { return media?.pc || null; },
  stats: () => (media ? media.stats() : Promise.resolve(null)),
  meanColour: (id = "program") => meanColour(document.getElementById(id)),
};

// ---- lobby -------------------------------------------------------------------

async function lobby() {
  if (!meetingId || !token) {
    return notice("Liên kết không đúng", "Hãy mở đúng liên kết riêng của phòng do đơn vị chủ trì gửi.");
  }
  try {
    S.meeting = await api(`/api/meetings/${meetingId}`, { token });
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      return notice("Liên kết không còn hiệu lực", "Liên kết đã hết hạn hoặc không đúng. Hãy xin đơn vị chủ trì gửi lại liên kết của phòng.");
    }
    $("#lobby-error").hidden = false;
    $("#lobby-error").textContent = `Chưa kết nối được máy chủ (${err.message}). Hãy kiểm tra mạng; trang vẫn có thể vào họp.`;
  }
  if (S.meeting) {
    const m = S.meeting;
    $("#meeting-title").textContent = m.title;
    $("#lobby-title").textContent = m.title;
    $("#lobby-meta").textContent = `Chủ trì: ${m.host_unit_name} · Bắt đầu ${fmtTime(m.scheduled_start)}`;
    showState(m.state);
    if (m.state === "ended") return notice("Cuộc họp đã kết thúc", m.title);
  }
  loadNames();
  // Joining does not wait for the camera: a slow permission prompt or a busy device
  // must not keep the room out; its picture follows when the device opens.
  $("#join-btn").disabled = false;
  $("#join-btn").onclick = join;
  $("#camera-select").onchange = () => openDevices({ camera: $("#camera-select").value });
  $("#mic-select").onchange = () => openDevices({ mic: $("#mic-select").value });
  const opening = openDevices();
  if (q.get("autojoin") === "1") join();
  await opening;
}

async function loadNames() {
  try {
    const att = await api(`/api/meetings/${meetingId}/attendance`, { token });
    for (const r of att.rooms) S.names.set(r.room_id, r.room_name);
    if (S.program) showProgram();
  } catch (e) { /* names are a nicety */ }
}

async function openDevices(choice = {}) {
  await local.open(choice);
  if (S.joined) {
    // Joined before the devices were ready: send them now.
    media?.setTracks(local.videoTrack, local.audioTrack);
    local.setMicEnabled(S.micOn);
    attach($("#self-view"), local.videoTrack).catch(() => {});
    return;
  }
  const preview = $("#lobby-preview");
  attach(preview, local.videoTrack).catch(() => {});
  $("#lobby-novideo").hidden = !!local.videoTrack;
  if (!local.stream) {
    $("#lobby-error").hidden = false;
    $("#lobby-error").textContent = "Không mở được camera và micro. Hãy cho phép trình duyệt dùng camera, micro rồi tải lại trang. Vẫn có thể vào họp để xem và nghe.";
  }
  try {
    const { cameras, mics } = await local.devices();
    fillDeviceSelect($("#camera-select"), cameras, local.videoTrack?.getSettings().deviceId || local.cameraId, "Không có camera");
    fillDeviceSelect($("#mic-select"), mics, local.audioTrack?.getSettings().deviceId || local.micId, "Không có micro");
  } catch (e) { /* enumerateDevices unsupported */ }
  startMeter();
}

function startMeter() {
  meterStop?.();
  const track = local.audioTrack;
  const bar = $("#mic-level");
  if (!track || !window.AudioContext) return;
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(new MediaStream([track]));
  const an = ctx.createAnalyser();
  an.fftSize = 512;
  src.connect(an);
  const buf = new Uint8Array(an.fftSize);
  let raf = 0;
  const tick = () => {
    an.getByteTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v - 128));
    bar.style.width = `${Math.min(100, (peak / 128) * 160)}%`;
    raf = requestAnimationFrame(tick);
  };
  tick();
  const resume = () => ctx.resume();
  document.addEventListener("click", resume, { once: true });
  meterStop = () => { cancelAnimationFrame(raf); ctx.close(); document.removeEventListener("click", resume); };
}

// ---- in the meeting -------------------------------------------------------------

function join() {
  if (S.joined) return;
  S.joined = true;
  meterStop?.();
  $("#lobby").hidden = true;
  $("#meeting").hidden = false;
  attach($("#self-view"), local.videoTrack).catch(() => {});
  media = new MediaLink({
    send: (type, fields, opts) => client.request(type, fields, opts),
    onSlot: gotTrack,
    onState: showMedia,
  });
  media.setTracks(local.videoTrack, local.audioTrack);
  client = new MeetingClient({
    meetingId, token,
    handlers: { onSnapshot, onEvent, onStatus, onFatal },
  });
  client.connect();
  $("#hand-btn").onclick = toggleHand;
  $("#present-btn").onclick = answerRollCall;
  $("#mic-btn").onclick = toggleMic;
  $("#leave-btn").onclick = leave;
  wireDocs();
}

function onSnapshot(snap, { resync = false } = {}) {
  S.snapshot = snap;
  S.me = snap.me;
  S.state = snap.state;
  S.program = snap.program;
  S.queue = snap.queue || [];
  S.muted = new Set(snap.muted || []);
  S.rollCall = !!snap.roll_call_active;
  S.names.set(snap.me.room_id, snap.me.room_name);
  $("#room-name").textContent = snap.me.room_name;
  $("#self-caption").textContent = snap.me.room_name;
  // A fresh session (first join, or the server lost ours): (re)offer media.
  if (!resync || media.state !== "connected") media.start(snap.ice_servers || []);
  render();
  // A fresh session may have missed agenda and page changes: ask where the synced view is.
  if (!D.loaded) refreshAgenda();
  refreshSync();
}

function onEvent(ev) {
  switch (ev.event) {
    case "program": S.program = ev; break;
    case "queue": S.queue = ev.queue; break;
    case "muted": ev.muted ? S.muted.add(ev.room_id) : S.muted.delete(ev.room_id); break;
    case "state": S.state = ev.state; break;
    case "roll_call":
      S.rollCall = ev.active;
      if (ev.active) S.answered = false;
      break;
    case "roll_call_mark":
      if (S.me && ev.room_id === S.me.room_id) S.answered = ev.status === "present_online" || ev.status === "present_in_person";
      break;
    case "agenda_item": onAgendaItem(ev); return;
    case "present": onPresent(ev); return;
    case "present_stop": onPresentStop(ev); return;
    case "agenda_published":
      refreshAgenda();
      $("#agenda-pub").textContent = `Phát hành ${fmtTime(ev.published_at)}`;
      if (D.tab !== "docs") $("#docs-dot").hidden = false;
      toast("Chương trình họp và tài liệu vừa được phát hành, cập nhật.", "ok", 8000);
      return;
    default: break;
  }
  render();
}

function onStatus(status, detail) {
  const badge = $("#conn-badge");
  const text = {
    connecting: ["Đang kết nối…", "warn"],
    joined: ["Đã kết nối", "ok"],
    reconnecting: [`Mất kết nối — đang thử lại${detail.attempt ? ` (lần ${detail.attempt})` : ""}`, "bad"],
    waiting: ["Chờ cuộc họp mở", "warn"],
    closed: ["Đã ngắt", "bad"],
  }[status] || [status, ""];
  badge.textContent = text[0];
  badge.className = `badge ${text[1]}`;
  $("#st-conn").textContent = text[0];
  if (status === "waiting") {
    $("#program-wait").textContent = "Cuộc họp chưa mở. Trang sẽ tự vào họp khi đơn vị chủ trì bắt đầu chạy thử.";
    $("#program-wait").hidden = false;
  }
  if (status === "joined" && detail.resumed && media && media.state === "retrying") media.start();
}

function onFatal(code, message) {
  media?.close();
  local.close();
  const title = {
    dropped: "Phòng đã bị ngắt khỏi cuộc họp",
    ended: "Cuộc họp đã kết thúc",
    replaced: "Phòng đã vào họp từ máy khác",
    left: "Đã rời cuộc họp",
    meeting_ended: "Cuộc họp đã kết thúc",
  }[code] || "Không vào được cuộc họp";
  const more = code === "dropped" ? " Liên hệ đơn vị chủ trì nếu cần vào lại." : code === "replaced" ? " Trang này đã dừng để tránh hai máy cùng một phòng." : "";
  notice(title, (message || "") + more, code === "left" || code === "dropped" || code === "replaced" ? "Vào lại" : null);
}

function gotTrack(kind, index, track) {
  if (kind === "video" && index === 0) {
    const v = $("#program");
    attach(v, track).catch(() => {});
    const wait = $("#program-wait");
    v.onresize = v.onplaying = () => { if (v.videoWidth) wait.hidden = true; };
  } else if (kind === "audio") {
    const a = index === 0 ? $("#audio-chair") : $("#audio-floor");
    attach(a, track).then(() => { $("#st-audio").textContent = "Đang phát"; }).catch(() => audioBlocked(a));
  }
}

function audioBlocked(a) {
  $("#st-audio").textContent = "Trình duyệt chặn tiếng";
  notice("Bấm để nghe tiếng", "Trình duyệt cần một lần bấm để phát âm thanh cuộc họp.", "Bật âm thanh", () => {
    a.play().then(() => { $("#st-audio").textContent = "Đang phát"; }).catch(() => {});
    $("#audio-chair").play().catch(() => {});
    $("#notice").hidden = true;
  });
}

function showMedia(state) {
  $("#st-media").textContent = {
    connecting: "Đang kết nối…", connected: "Tốt", retrying: "Đang kết nối lại…", closed: "Đã dừng", idle: "—",
  }[state] || state;
}

// ---- actions ----------------------------------------------------------------------

async function toggleHand() {
  const btn = $("#hand-btn");
  btn.disabled = true;
  try {
    if (hasFloor() || S.queue.includes(S.me.room_id)) await client.request("lower_hand");
    else await client.request("raise_hand");
  } catch (err) {
    toast(err.message, "error");
  } finally {
    btn.disabled = false;
    render();
  }
}

async function answerRollCall() {
  try {
    await client.request("roll_call_answer");
    S.answered = true;
    render();
  } catch (err) {
    toast(err.message, "error");
  }
}

function toggleMic() {
  S.micOn = !S.micOn;
  local.setMicEnabled(S.micOn);
  render();
}

async function leave() {
  if (!(await ask({ title: "Rời cuộc họp?", body: "Phòng sẽ không còn trong cuộc họp cho đến khi vào lại.", confirm: "Rời cuộc họp", danger: true }))) return;
  await client.leave();
  onFatal("left", "Phòng đã rời cuộc họp.");
}

// ---- drawing ------------------------------------------------------------------------

const hasFloor = () => S.me && S.program?.floor_room === S.me.room_id;
// The chair may let the room that has the floor present documents to everyone.
const mayPresent = () => hasFloor() && !!S.program?.floor_may_present;
const presentingMine = () => !!(D.present && S.me && D.present.presenter?.room_id === S.me.room_id);
const nameOf = (id) => S.names.get(id) || `Phòng ${id}`;

function showState(state) {
  const b = $("#state-badge");
  b.textContent = STATE_LABEL[state] || state || "—";
  b.className = `badge state-${state}`;
  $("#st-state").textContent = STATE_LABEL[state] || "—";
}

function showProgram() {
  const p = S.program || { mode: "lecture" };
  const banner = $("#program-banner");
  const mode = $("#mode-badge");
  let who;
  if (p.mode === "lecture" || !p.source_room) {
    who = p.chair_room ? `Chủ trì: ${nameOf(p.chair_room)}` : "Điểm cầu chủ trì";
    mode.textContent = "Chủ trì";
    mode.className = "badge";
  } else {
    const mine = S.me && p.source_room === S.me.room_id;
    who = mine ? "Phòng của bạn" : nameOf(p.source_room);
    mode.textContent = p.mode === "floor" ? "Đang phát biểu" : "Đang phát hình";
    mode.className = "badge state-live";
  }
  banner.classList.toggle("floor", p.mode !== "lecture");
  $("#program-who").textContent = who;
  banner.title = MODE_LABEL[p.mode] || "";
}

function render() {
  if (!S.me) return;
  showState(S.state);
  showProgram();
  const active = S.state === "test_run" || S.state === "live";
  const inQueue = S.queue.includes(S.me.room_id);
  const floor = hasFloor();
  const hand = $("#hand-btn");
  hand.disabled = !active;
  if (floor) { hand.textContent = "Kết thúc phát biểu"; hand.className = "btn btn-danger btn-lg"; }
  else if (inQueue) {
    const pos = S.queue.indexOf(S.me.room_id) + 1;
    hand.textContent = `Thôi phát biểu (đang chờ thứ ${pos})`;
    hand.className = "btn btn-lg active";
  } else { hand.textContent = "Xin phát biểu"; hand.className = "btn btn-warn btn-lg"; }
  $("#floor-box").hidden = !floor;
  $("#floor-box").textContent = mayPresent()
    ? "Phòng của bạn đang phát biểu và được trình chiếu tài liệu (thẻ Tài liệu)"
    : "Phòng của bạn đang được phát biểu";
  renderViewer();
  const muted = S.muted.has(S.me.room_id);
  $("#muted-box").hidden = !muted;
  $("#rollcall-box").hidden = !(S.rollCall && !S.answered);
  $("#rollcall-done").hidden = !(S.rollCall && S.answered);
  const mic = $("#mic-btn");
  mic.textContent = S.micOn ? "Tắt micro" : "Bật micro";
  mic.className = S.micOn ? "btn btn-lg" : "btn btn-danger btn-lg";
}

// ---- paperless: agenda, documents, synced page view -------------------------------------

function wireDocs() {
  $("#tab-video").onclick = () => setTab("video");
  $("#tab-docs").onclick = () => setTab("docs");
  $("#program-box").onclick = () => { if (D.tab === "docs") setTab("video"); };
  $("#doc-prev").onclick = () => turn(-1);
  $("#doc-next").onclick = () => turn(+1);
  $("#btn-private").onclick = () => leaveSync();
  $("#btn-present").onclick = () => { if (D.view) presentPage(D.view.page); };
  $("#btn-present-stop").onclick = () => stopPresenting();
  $("#btn-follow").onclick = () => followPresenter();
  const fit = localStorage.getItem("confserver.docs.fit") === "page";
  $("#viewer").classList.toggle("fit-page", fit);
  $("#doc-fit").textContent = fit ? "Vừa chiều rộng" : "Cả trang";
  $("#doc-fit").onclick = () => {
    const on = $("#viewer").classList.toggle("fit-page");
    localStorage.setItem("confserver.docs.fit", on ? "page" : "width");
    $("#doc-fit").textContent = on ? "Vừa chiều rộng" : "Cả trang";
  };
  $("#doc-page-img").onload = () => { $("#doc-page-img").dataset.loaded = "1"; };
  document.addEventListener("keydown", (e) => {
    if (D.tab !== "docs" || !D.view || e.target.closest("input, select, textarea")) return;
    if (e.key === "ArrowRight" || e.key === "PageDown") turn(+1);
    else if (e.key === "ArrowLeft" || e.key === "PageUp") turn(-1);
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (D.view) showPage(); }, 300);
  });
}

function setTab(tab) {
  D.tab = tab;
  const docs = tab === "docs";
  $("#docs").hidden = !docs;
  $(".room-stage").classList.toggle("docs-mode", docs);
  $("#tab-video").classList.toggle("active", !docs);
  $("#tab-docs").classList.toggle("active", docs);
  $("#tab-video").setAttribute("aria-selected", String(!docs));
  $("#tab-docs").setAttribute("aria-selected", String(docs));
  if (docs) $("#docs-dot").hidden = true;
  if (docs && Date.now() - D.loadedAt > 30000) refreshAgenda();
  if (docs && D.view && D.shown !== `${D.view.version_id}/${D.view.page}`) showPage();
}

async function refreshAgenda() {
  try {
    const { items, docs } = await loadAgenda(meetingId, token);
    D.items = items;
    D.docs = docs;
    D.loaded = true;
    D.loadedAt = Date.now();
  } catch (err) {
    $("#agenda-empty").textContent = err.code === "agenda_not_published"
      ? "Chương trình họp chưa được phát hành." : `Chưa tải được chương trình họp (${err.message}).`;
    $("#agenda-empty").hidden = false;
    return;
  }
  renderAgenda();
  loadPublication();
}

async function loadPublication() {
  try {
    const pubs = await api(`/api/agenda/meetings/${meetingId}/publications`, { token });
    const last = pubs.at(-1);
    $("#agenda-pub").textContent = last ? `Phát hành ${fmtTime(last.published_at)}` : "";
  } catch (e) { /* a nicety */ }
}

async function refreshSync() {
  if (!client?.joined) return;
  try {
    applySync(await client.request("sync_state"));
  } catch (e) { /* the events keep us right meanwhile */ }
}

/** A sync_state reply: where the meeting is (ignored when events already told us something newer). */
function applySync(s) {
  if (typeof s.sync_seq === "number") {
    if (s.sync_seq < D.syncSeq) return;
    D.syncSeq = s.sync_seq;
  }
  D.currentItem = s.agenda_item?.item || null;
  const had = D.present;
  D.present = s.present || null;
  if (D.following && D.present) follow(D.present, !had || had.version_id !== D.present.version_id);
  renderAgenda();
  renderViewer();
}

function fresh(ev) {
  if (typeof ev.sync_seq !== "number") return true;
  if (ev.sync_seq < D.syncSeq) return false;
  D.syncSeq = ev.sync_seq;
  return true;
}

function onAgendaItem(ev) {
  if (!fresh(ev)) return;
  D.currentItem = ev.item;
  if (ev.item && !D.items.some((i) => i.id === ev.item.id)) refreshAgenda();
  if (ev.item) toast(`Chuyển sang nội dung ${ev.item.position}: ${ev.item.title}`, "info", 6000);
  renderAgenda();
  const cur = $("#agenda-list li.current");
  if (cur) cur.scrollIntoView({ block: "nearest" });
}

function onPresent(ev) {
  if (!fresh(ev)) return;
  const before = D.present;
  D.present = ev;
  if (!D.docs.some((d) => d.id === ev.document_id)) refreshAgenda();
  if (D.presenting && presentingMine()) renderViewer(); // our own page turns are still on their way
  else if (D.following) follow(ev, !before || before.version_id !== ev.version_id);
  else renderViewer();
  if (D.tab !== "docs" && !D.following) $("#docs-dot").hidden = false;
}

function onPresentStop(ev) {
  if (!fresh(ev)) return;
  D.present = null;
  renderViewer();
}

/** Show what the presenter shows; a new document also brings the documents tab forward. */
function follow(p, newDocument) {
  D.view = { document_id: p.document_id, version_id: p.version_id, title: p.title, page: p.page, page_count: p.page_count };
  if (newDocument && D.tab !== "docs") setTab("docs");
  showPage();
}

function leaveSync(quiet = false) {
  if (!D.following) return;
  D.following = false;
  if (!quiet) toast("Đang xem riêng. Bấm “Theo người trình bày” để quay lại trang đang trình chiếu.", "info", 6000);
  renderViewer();
}

async function followPresenter() {
  D.following = true;
  await refreshSync(); // the freshest position; the last event otherwise
  if (D.present) follow(D.present, true);
  else toast("Hiện không có tài liệu nào đang được trình chiếu.", "info");
  renderViewer();
}

/** The room opens a document itself: that leaves the synced view while someone presents. */
function openDocument(d) {
  if (D.present && D.following) leaveSync();
  const v = d.current;
  D.view = { document_id: d.id, version_id: v.id, title: d.title, page: 1, page_count: v.page_count };
  setTab("docs");
  showPage();
}

function turn(delta) {
  if (!D.view) return;
  const page = D.view.page + delta;
  if (page < 1 || page > D.view.page_count) return;
  // Presenting this document ourselves: every room turns with us.
  const live = presentingMine() && D.following && D.present.version_id === D.view.version_id;
  if (D.present && D.following && !live) leaveSync();
  D.view.page = page;
  showPage();
  if (live) presentPage(page);
}

/** Show the open page to everyone (the room holds the floor and the chair allowed it). One request
 *  at a time, the latest page wins: fast page turns neither flood the server nor pull the view back. */
async function presentPage(page) {
  const v = D.view;
  if (!v || !client?.joined) return;
  D.wantPage = { version_id: v.version_id, page };
  if (D.presenting) return;
  D.presenting = true;
  try {
    while (D.wantPage) {
      const want = D.wantPage;
      D.wantPage = null;
      await client.request("present", want);
      D.following = true;
    }
  } catch (err) {
    D.wantPage = null;
    toast(err.message, "error");
  } finally {
    D.presenting = false;
  }
  if (D.following && D.present) follow(D.present, false);
  else renderViewer();
}

async function stopPresenting() {
  try {
    await client.request("present_stop");
  } catch (err) {
    toast(err.message, "error");
  }
}

async function showPage() {
  renderViewer();
  const v = D.view;
  if (!v) return;
  const img = $("#doc-page-img");
  const wrap = $("#page-wrap");
  const width = pickWidth(wrap.clientWidth || 960);
  const key = `${v.version_id}/${v.page}`;
  const mine = ++pageLoad;
  const ph = $("#doc-placeholder");
  if (D.shown !== key) {
    ph.textContent = "Đang tải trang…";
    ph.hidden = false;
    ph.classList.add("loading");
  }
  try {
    const url = await pages.load(v.version_id, v.page, width);
    if (mine !== pageLoad) return; // a newer page was asked for meanwhile
    if (img.src !== url) {
      img.dataset.loaded = "";
      img.src = url;
    }
    img.dataset.page = String(v.page);
    img.dataset.versionId = String(v.version_id);
    img.alt = `${v.title} — trang ${v.page}`;
    img.hidden = false;
    ph.hidden = true;
    if (D.shown !== key) wrap.scrollTop = 0;
    D.shown = key;
    pages.prefetch(v.version_id, [v.page + 1, v.page - 1], v.page_count, width);
  } catch (err) {
    if (mine !== pageLoad) return;
    img.hidden = true;
    D.shown = null;
    ph.classList.remove("loading");
    ph.textContent = `Không tải được trang ${v.page}: ${err.message}`;
    ph.hidden = false;
  }
}

function renderAgenda() {
  const list = $("#agenda-list");
  const tree = agendaTree(D.items, D.docs);
  const openId = D.view?.document_id;
  const presentedId = D.present?.document_id;
  list.replaceChildren(...tree.map(({ item, docs }) => el("li", {
    class: `agenda-item${item && D.currentItem?.id === item.id ? " current" : ""}${item ? "" : " loose"}`,
    dataset: { itemId: item ? String(item.id) : "" },
  },
  el("div", { class: "item-head" },
    el("span", { class: "pos" }, item ? item.position : "•"),
    el("span", { class: "item-title" }, item ? item.title : "Tài liệu chung"),
    item && D.currentItem?.id === item.id ? el("span", { class: "tag onair" }, "Đang thảo luận") : null),
  item?.presenter_unit_name ? el("div", { class: "item-sub muted" }, `Trình bày: ${item.presenter_unit_name}`) : null,
  docs.length ? el("ul", { class: "doc-list" }, docs.map((d) => el("li", {},
    el("button", {
      class: `doc-open${d.id === openId ? " open" : ""}`,
      dataset: { documentId: String(d.id), versionId: String(d.current.id) },
      title: `Mở “${d.title}”`,
      onclick: () => openDocument(d),
    }, ...docLabel(d), d.id === presentedId ? el("span", { class: "tag present" }, "Đang trình chiếu") : null)))) : null)));
  const empty = $("#agenda-empty");
  empty.hidden = tree.length > 0;
  if (!tree.length && D.loaded) empty.textContent = "Cuộc họp chưa có chương trình, tài liệu.";
}

function renderViewer() {
  const v = D.view;
  const p = D.present;
  const badge = $("#sync-badge");
  let text, cls;
  if (D.following && p && presentingMine()) { text = "Phòng của bạn đang trình chiếu"; cls = "ok"; }
  else if (D.following && p) { text = "Đang theo người trình bày"; cls = "ok"; }
  else if (D.following) { text = v ? "Chưa trình chiếu" : "Chờ trình chiếu"; cls = ""; }
  else if (p) { text = `Đang xem riêng · trình chiếu ở trang ${p.page}${v && p.version_id !== v.version_id ? ` “${p.title}”` : ""}`; cls = "warn"; }
  else { text = "Đang xem riêng"; cls = "warn"; }
  badge.textContent = text;
  badge.className = `badge ${cls}`;
  $("#btn-follow").hidden = D.following;
  $("#btn-private").hidden = !(D.following && p) || presentingMine();
  const live = presentingMine() && v && p.version_id === v.version_id;
  const present = $("#btn-present");
  present.hidden = !(mayPresent() && v) || (live && p.page === v.page);
  present.textContent = live ? "Trình chiếu trang này" : "Trình chiếu cho cả hội nghị";
  $("#btn-present-stop").hidden = !(mayPresent() && presentingMine());
  $("#doc-title").textContent = v ? v.title : "Chưa mở tài liệu";
  $("#doc-title").title = v ? v.title : "";
  $("#doc-page-num").textContent = v ? v.page : "–";
  $("#doc-page-count").textContent = v ? v.page_count : "–";
  $("#doc-prev").disabled = !v || v.page <= 1;
  $("#doc-next").disabled = !v || v.page >= v.page_count;
  renderAgenda();
}

function notice(title, text, button = null, action = null) {
  $("#notice-title").textContent = title;
  $("#notice-text").textContent = text || "";
  const btn = $("#notice-btn");
  btn.hidden = !button;
  if (button) {
    btn.textContent = button;
    btn.onclick = action || (() => location.reload());
  }
  $("#notice").hidden = false;
}

lobby();
