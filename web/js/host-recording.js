// The console's recording control (issue 10; Decision 45/2018/QĐ-TTg: the chair decides whether the meeting is
// recorded): the red "● Đang ghi hình" mark, "Dừng ghi hình" (after a confirmation) / "Ghi hình lại", and the
// failure the relay reported, shown until recording runs again.
import { S, log, send } from "./host-common.js";
import { $, ask } from "./ui.js";

export const REC_BY = {
  chair: "chủ trì", auto: "tự động khi khai mạc", meeting_ended: "khi kết thúc cuộc họp", relay: "máy ghi",
  restart: "tự động ghi tiếp sau khi máy chủ truyền hình khởi động lại; đoạn gián đoạn có trong diễn biến",
};

/** Take the recording state of a snapshot. */
export function setRecording(rec) {
  S.recording = rec || { on: false, since: null };
  if (S.recording.on) S.recordedOnce = true;
  S.recAlertClosed = false;
  renderRecording();
}

/** A `recording` event (each is a change): the new state, a line in the log; a failure shows in the alert. */
export function onRecordingEvent(ev) {
  setRecording({ on: ev.on, since: ev.since, failure: ev.failure });
  const by = REC_BY[ev.by] ? ` (${REC_BY[ev.by]})` : "";
  if (ev.on) log(`Bắt đầu ghi hình${by}`, "onair");
  else if (ev.failure) log(ev.failure.message, "warn");
  else log(`Dừng ghi hình${by}`);
}

export function renderRecording() {
  const rec = S.recording || { on: false };
  const active = S.state === "live" || S.state === "test_run";
  const on = !!rec.on && active;
  const mark = $("#rec-mark");
  mark.hidden = !on;
  mark.title = on && rec.since ? `Đang ghi hình từ ${new Date(rec.since).toLocaleTimeString("vi-VN")}` : "Cuộc họp đang được ghi hình";
  const btn = $("#btn-rec");
  btn.hidden = !active;
  btn.textContent = on ? "Dừng ghi hình" : (S.recordedOnce || rec.failure ? "Ghi hình lại" : "Bắt đầu ghi hình");
  btn.className = `btn ${on ? "btn-danger" : "btn-go"}`;
  btn.title = on ? "Dừng ghi hình cuộc họp (chủ trì quyết định việc ghi hình)" : "Ghi hình chương trình mà các phòng đang xem, nghe";
  const alert = $("#rec-alert");
  alert.hidden = !(active && !rec.on && rec.failure) || S.recAlertClosed;
  if (!alert.hidden) $("#rec-alert-text").textContent = rec.failure.message;
}

async function startRecording() {
  const data = await send("recording_start", {}, "Đã bắt đầu ghi hình");
  if (data?.recording) setRecording(data.recording);
}

async function stopRecording() {
  const ok = await ask({
    title: "Dừng ghi hình?",
    body: "Từ lúc dừng, cuộc họp không được ghi lại cho đến khi bấm “Ghi hình lại”. Việc dừng được ghi vào diễn biến cuộc họp.",
    confirm: "Dừng ghi hình", danger: true,
  });
  if (!ok) return;
  const data = await send("recording_stop", {}, "Đã dừng ghi hình");
  if (data?.recording) setRecording(data.recording);
}

export function wireRecording() {
  const btn = $("#btn-rec");
  btn.onclick = async () => {
    btn.disabled = true;
    try {
      await (S.recording?.on ? stopRecording() : startRecording());
    } finally {
      btn.disabled = false;
    }
  };
  $("#rec-alert-restart").onclick = () => startRecording();
  $("#rec-alert-close").onclick = () => { S.recAlertClosed = true; renderRecording(); };
}
