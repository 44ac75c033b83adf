// The room page in the meeting: the state and program banner, the floor (ask, withdraw, give back),
// the roll call answer, the microphone; and drawing them from the room's state.
import { S, app, hasFloor, mayPresent, nameOf } from "./room-common.js";
import { renderViewer } from "./room-docs.js";
import { $, MODE_LABEL, STATE_LABEL, toast } from "./ui.js";

// ---- actions ----------------------------------------------------------------------

async function toggleHand() {
  const btn = $("#hand-btn");
  btn.disabled = true;
  try {
    if (hasFloor() || S.queue.includes(S.me.room_id)) await app.client.request("lower_hand");
    else await app.client.request("raise_hand");
  } catch (err) {
    toast(err.message, "error");
  } finally {
    btn.disabled = false;
    render();
  }
}

async function answerRollCall() {
  try {
    await app.client.request("roll_call_answer");
    S.answered = true;
    render();
  } catch (err) {
    toast(err.message, "error");
  }
}

function toggleMic() {
  S.micOn = !S.micOn;
  app.local.setMicEnabled(S.micOn);
  render();
}

// ---- drawing ------------------------------------------------------------------------

export function showState(state) {
  const b = $("#state-badge");
  b.textContent = STATE_LABEL[state] || state || "—";
  b.className = `badge state-${state}`;
  $("#st-state").textContent = STATE_LABEL[state] || "—";
}

/** The red "● Đang ghi hình" mark while the meeting is recorded (and only then). */
function showRecording() {
  const active = S.state === "test_run" || S.state === "live";
  $("#rec-mark").hidden = !(active && S.recording?.on);
}

export function showProgram() {
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

export function render() {
  if (!S.me) return;
  showState(S.state);
  showProgram();
  showRecording();
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

export function wireActions() {
  $("#hand-btn").onclick = toggleHand;
  $("#present-btn").onclick = answerRollCall;
  $("#mic-btn").onclick = toggleMic;
}
