// The room page's lobby: before joining, the room sees the meeting and which room its link is for
// (GET /api/meetings/{id}/lobby, read from the token), picks and checks its camera and microphone (a live
// level meter), then joins.
import { api } from "./meeting.js";
import { attach, fillDeviceSelect } from "./media.js";
import { S, app, meetingId, notice, query, token } from "./room-common.js";
import { showProgram, showState } from "./room-view.js";
import { $, errorText, fmtTime } from "./ui.js";

let meterStop = null;

/** Show the lobby; `join` enters the meeting (the button, or ?autojoin=1). */
export async function lobby(join) {
  if (!meetingId || !token) {
    return notice("Liên kết không đúng", "Hãy mở đúng liên kết riêng của phòng do đơn vị chủ trì gửi.");
  }
  try {
    S.meeting = await api(`/api/meetings/${meetingId}/lobby`, { token });
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      return notice("Liên kết không còn hiệu lực", "Liên kết đã hết hạn hoặc không đúng. Hãy xin đơn vị chủ trì gửi lại liên kết của phòng.");
    }
    $("#lobby-error").hidden = false;
    $("#lobby-error").textContent = `Chưa kết nối được máy chủ (${errorText(err, "đọc thông tin cuộc họp")}). Hãy kiểm tra mạng; trang vẫn có thể vào họp.`;
  }
  if (S.meeting) {
    const m = S.meeting;
    $("#meeting-title").textContent = m.title;
    $("#lobby-title").textContent = m.title;
    $("#lobby-meta").textContent = `Chủ trì: ${m.host_unit_name} · Bắt đầu ${fmtTime(m.scheduled_start)}`;
    showRoom(m);
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
  if (query.get("autojoin") === "1") join();
  await opening;
}

/** Which room this link signs in, before joining (issue 12, item 11); and whether the chair keeps it out. */
function showRoom(m) {
  S.names.set(m.room_id, m.room_name);
  $("#room-name").textContent = m.room_name;
  let line = $("#lobby-room");
  if (!line) {
    line = document.createElement("div");
    line.id = "lobby-room";
    line.className = "lobby-room";
    line.style.cssText = "font-size:20px;font-weight:600";
    $("#lobby-title").after(line);
  }
  line.textContent = `Liên kết của phòng: ${m.room_name}` + (m.unit_name && !m.room_name.includes(m.unit_name) ? ` (${m.unit_name})` : "");
  if (m.dropped) {
    $("#lobby-error").hidden = false;
    $("#lobby-error").textContent = "Chủ trì đã ngắt kết nối phòng này khỏi cuộc họp. Bấm “Vào họp” để chờ: trang sẽ tự vào họp khi chủ trì cho vào lại.";
  }
}

async function loadNames() {
  try {
    const att = await api(`/api/meetings/${meetingId}/attendance`, { token });
    for (const r of att.rooms) S.names.set(r.room_id, r.room_name);
    if (S.program) showProgram();
  } catch (e) { /* names are a nicety */ }
}

export async function openDevices(choice = {}) {
  await app.local.open(choice);
  if (S.joined) {
    // Joined before the devices were ready: send them now.
    app.media?.setTracks(app.local.videoTrack, app.local.audioTrack);
    app.local.setMicEnabled(S.micOn);
    attach($("#self-view"), app.local.videoTrack).catch(() => {});
    return;
  }
  const preview = $("#lobby-preview");
  attach(preview, app.local.videoTrack).catch(() => {});
  $("#lobby-novideo").hidden = !!app.local.videoTrack;
  if (!app.local.stream) {
    $("#lobby-error").hidden = false;
    $("#lobby-error").textContent = "Không mở được camera và micro. Hãy cho phép trình duyệt dùng camera, micro rồi tải lại trang. Vẫn có thể vào họp để xem và nghe.";
  }
  try {
    const { cameras, mics } = await app.local.devices();
    fillDeviceSelect($("#camera-select"), cameras, app.local.videoTrack?.getSettings().deviceId || app.local.cameraId, "Không có camera");
    fillDeviceSelect($("#mic-select"), mics, app.local.audioTrack?.getSettings().deviceId || app.local.micId, "Không có micro");
  } catch (e) { /* enumerateDevices unsupported */ }
  startMeter();
}

function startMeter() {
  meterStop?.();
  const track = app.local.audioTrack;
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

export function stopMeter() {
  meterStop?.();
}
