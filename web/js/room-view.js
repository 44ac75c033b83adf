// The room page in the meeting: the state and program banner, the floor (ask, withdraw, give back),
// the roll call answer, the microphone; and drawing them from the room's state.
import { D, S, app, hasFloor, mayPresent, nameOf } from "./room-common.js";
import { renderViewer } from "./room-docs.js";
import { mountSpeakerClock } from "./speaker-clock.js";
import { $, MODE_LABEL, STATE_LABEL, errorText, toast } from "./ui.js";

const OPEN = new Set(["test_run", "live"]);

/** The meeting's state as the room last heard it: from the socket once joined, else from the lobby's read. */
const meetingState = () => S.state || S.meeting?.state || null;

/** Why the room cannot ask for the floor now, in words a delegate understands; null when it can. Before the
 *  meeting opens the socket is not joined (the server answers not_started) and there is no room identity yet. */
export function floorBlocked() {
  const state = meetingState();
  if (state === "ended") return "Cuộc họp đã kết thúc.";
  if (!S.me || !app.client?.joined) {
    if (app.client?.status === "waiting" || (state && !OPEN.has(state))) {
      return "Cuộc họp chưa mở. Khi đơn vị chủ trì bắt đầu chạy thử hoặc khai mạc, phòng tự vào họp và xin phát biểu được.";
    }
    return "Chưa kết nối được với máy chủ cuộc họp; hãy đợi giây lát rồi thử lại.";
  }
  if (!OPEN.has(state)) return "Cuộc họp chưa mở: chỉ xin phát biểu được khi đang chạy thử hoặc đang họp.";
  return null;
}

// ---- actions ----------------------------------------------------------------------

async function toggleHand() {
  const why = floorBlocked();
  if (why) {
    toast(why, "error", 7000);
    return;
  }
  const btn = $("#hand-btn");
  btn.disabled = true;
  try {
    if (hasFloor() || S.queue.includes(S.me.room_id)) await app.client.request("lower_hand");
    else await app.client.request("raise_hand");
  } catch (err) {
    toast(errorText(err, "xin phát biểu"), "error");
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
    toast(errorText(err, "báo có mặt"), "error");
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
    // The room that speaks or is broadcast watches the chair (e634e4c): say what it is shown.
    const mine = S.me && p.source_room === S.me.room_id;
    const chair = p.chair_room ? `chủ trì: ${nameOf(p.chair_room)}` : "điểm cầu chủ trì";
    who = mine ? `Đang xem ${chair}` : nameOf(p.source_room);
    mode.textContent = p.mode === "floor" ? (mine ? "Bạn đang phát biểu" : "Đang phát biểu")
      : (mine ? "Phòng bạn đang được phát hình" : "Đang phát hình");
    mode.className = "badge state-live";
  }
  banner.classList.toggle("floor", p.mode !== "lecture");
  $("#program-who").textContent = who;
  banner.title = MODE_LABEL[p.mode] || "";
}

/** The microphone button says what a press will do, whether or not the meeting has opened (issue 12, item 12). */
function showMic() {
  const mic = $("#mic-btn");
  mic.textContent = S.micOn ? "Tắt micro" : "Bật micro";
  mic.className = S.micOn ? "btn btn-lg" : "btn btn-danger btn-lg";
  mic.setAttribute("aria-pressed", String(!S.micOn));
}

/** "Xin phát biểu" stays pressable while the meeting is not open, so a press can say why it cannot. */
function showHand() {
  const hand = $("#hand-btn");
  const why = floorBlocked();
  hand.title = why || "";
  hand.setAttribute("aria-disabled", String(!!why));
  if (!S.me) { hand.textContent = "Xin phát biểu"; hand.className = "btn btn-warn btn-lg"; return; }
  const inQueue = S.queue.includes(S.me.room_id);
  if (hasFloor()) { hand.textContent = "Kết thúc phát biểu"; hand.className = "btn btn-danger btn-lg"; }
  else if (inQueue) {
    const pos = S.queue.indexOf(S.me.room_id) + 1;
    hand.textContent = `Thôi phát biểu (đang chờ thứ ${pos})`;
    hand.className = "btn btn-lg active";
  } else { hand.textContent = "Xin phát biểu"; hand.className = "btn btn-warn btn-lg"; }
}

export function render() {
  showMic();
  showHand();
  if (!S.me) return;
  showState(S.state);
  showProgram();
  showRecording();
  const floor = hasFloor();
  $("#floor-box").hidden = !floor;
  $("#floor-box").textContent = mayPresent()
    ? "Phòng của bạn đang phát biểu và được trình chiếu tài liệu (thẻ Tài liệu)"
    : "Phòng của bạn đang được phát biểu";
  renderViewer();
  const muted = S.muted.has(S.me.room_id);
  $("#muted-box").hidden = !muted;
  $("#rollcall-box").hidden = !(S.rollCall && !S.answered);
  $("#rollcall-done").hidden = !(S.rollCall && S.answered);
}

/** What the speaker's clock shows on the room page: the room's own time at the floor (only while it has it),
 *  and the current agenda item's planned minutes counted down. */
function clockNow() {
  if (!hasFloor()) return { since: null, limit: null, item: null };
  const it = D.currentItem && D.items.find((i) => i.id === D.currentItem.id);
  return {
    since: S.program.floor_since ?? null,
    limit: S.program.floor_limit_s ?? null,
    item: it ? { position: it.position, title: it.title, planned_minutes: it.planned_minutes, at: D.itemAt } : null,
  };
}

export function wireActions() {
  mountSpeakerClock($("#floor-clock"), { read: clockNow });
  $("#hand-btn").onclick = toggleHand;
  $("#present-btn").onclick = answerRollCall;
  $("#mic-btn").onclick = toggleMic;
}
