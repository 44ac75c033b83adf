// The room page: a commune's terminal signs in with its link, checks its camera
// and microphone, joins, watches the program and asks for the floor.
import { MeetingClient, api } from "./meeting.js";
import { LocalMedia, MediaLink, attach, fillDeviceSelect, meanColour } from "./media.js";
import { $, MODE_LABEL, STATE_LABEL, ask, fmtTime, params, toast } from "./ui.js";

const q = params();
const meetingId = Number(q.get("meeting"));
const token = q.get("token");

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

const local = new LocalMedia();
let client = null;
let media = null;
let meterStop = null;

window.confserver = {
  get state() { return S; },
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
  const muted = S.muted.has(S.me.room_id);
  $("#muted-box").hidden = !muted;
  $("#rollcall-box").hidden = !(S.rollCall && !S.answered);
  $("#rollcall-done").hidden = !(S.rollCall && S.answered);
  const mic = $("#mic-btn");
  mic.textContent = S.micOn ? "Tắt micro" : "Bật micro";
  mic.className = S.micOn ? "btn btn-lg" : "btn btn-danger btn-lg";
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
