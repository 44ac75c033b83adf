// The console's panels: meeting state and clock, the program, the floor queue, the roll call;
// and the controls that drive them.
import { S, nameOf, send, shortName } from "./host-common.js";
import { sendMultiview } from "./host-multiview.js";
import { $, MODE_LABEL, ROLL_LABEL, STATE_LABEL, ask, el, fmtClock } from "./ui.js";

const ROLL_SHORT = { present_online: "Trực tuyến", present_in_person: "Tại hội trường", absent: "Vắng", not_marked: "Chưa điểm danh" };

export function renderAll() {
  renderState();
  renderProgram();
  renderQueue();
  renderRollCall();
  sendMultiview();
}

export function renderState() {
  const s = S.state;
  const b = $("#state-badge");
  b.textContent = STATE_LABEL[s] || s;
  b.className = `badge state-${s}`;
  $("#btn-test-run").hidden = s !== "scheduled";
  $("#btn-live").hidden = s !== "test_run";
  $("#btn-end").hidden = s !== "live";
  tickClock();
  renderProgram();
}

export function tickClock() {
  const c = $("#clock");
  if (S.state === "live" && S.startedAt) {
    c.hidden = false;
    c.textContent = `Đã họp ${fmtClock((Date.now() - S.startedAt.getTime()) / 1000)}`;
  } else {
    c.hidden = true;
  }
}

export function renderProgram() {
  const p = S.program || { mode: "lecture" };
  const lecture = p.mode === "lecture" || !p.source_room;
  $("#program-local").hidden = !lecture;
  $("#program-remote").hidden = lecture;
  const who = lecture ? nameOf(S.me?.room_id) : nameOf(p.source_room);
  $("#program-caption").textContent = who;
  $("#program-who").textContent = who;
  const mb = $("#mode-badge");
  mb.textContent = lecture ? "Chủ trì" : p.mode === "floor" ? "Phát biểu" : "Phát hình";
  mb.className = `badge ${lecture ? "" : "state-live"}`;
  mb.title = MODE_LABEL[p.mode] || "";
  $("#btn-revoke").disabled = !p.floor_room;
  $("#btn-lecture").disabled = lecture;
  const onair = $("#program-onair");
  onair.hidden = !(S.state === "live" || S.state === "test_run");
  onair.textContent = S.state === "live" ? "TRỰC TIẾP" : "CHẠY THỬ";
  onair.className = `badge ${S.state === "live" ? "state-live" : "state-test_run"}`;
}

export function renderQueue() {
  const list = $("#queue");
  list.textContent = "";
  S.queue.forEach((id, i) => {
    list.append(el("li", { dataset: { roomId: String(id) } },
      el("span", { class: "pos" }, i + 1),
      el("span", { class: "name", title: nameOf(id) }, shortName(id)),
      el("button", { class: "btn btn-sm btn-go grant", title: "Cho phòng này phát biểu", dataset: { action: "grant", roomId: String(id) } }, "Cho nói")));
  });
  $("#queue-empty").hidden = S.queue.length > 0;
  $("#queue-count").textContent = S.queue.length;
  const floor = S.program?.floor_room;
  $("#speaker").hidden = !floor;
  if (floor) $("#speaker-name").textContent = shortName(floor);
  const allowed = !!S.program?.floor_may_present;
  const btn = $("#speaker-present");
  btn.textContent = allowed ? "Thôi trình chiếu" : "Cho trình chiếu";
  btn.classList.toggle("active", allowed);
}

export function renderRollCall() {
  const counts = { present_online: 0, present_in_person: 0, absent: 0, not_marked: 0 };
  for (const r of S.rooms.values()) counts[r.roll_call || "not_marked"] += 1;
  $("#rc-counts").replaceChildren(...Object.entries(counts).map(([k, v]) =>
    el("div", { class: `c-${k}`, title: ROLL_LABEL[k] }, el("b", {}, v), el("span", {}, ROLL_SHORT[k]))));
  const badge = $("#rc-badge");
  // Not "Không điểm danh" (read as an order, in the panel's capitals): whether one ran yet.
  badge.textContent = S.rollCall ? "Đang điểm danh" : $("#rc-summary").textContent ? "Đã điểm danh" : "Chưa điểm danh";
  badge.className = `badge ${S.rollCall ? "warn" : ""}`;
  $("#btn-rc-start").hidden = S.rollCall;
  $("#btn-rc-end").hidden = !S.rollCall;
}

export function showSummary(summary) {
  // In one order, whoever sent it (PostgreSQL's jsonb gives the timeline's copy its keys in another order).
  const parts = Object.keys(ROLL_LABEL).filter((k) => k in summary).map((k) => `${ROLL_LABEL[k]}: ${summary[k]}`);
  $("#rc-summary").textContent = `Kết quả lần điểm danh gần nhất — ${parts.join(" · ")}`;
  renderRollCall();
}

export function wirePanels() {
  $("#btn-test-run").onclick = () => send("set_state", { state: "test_run" }, "Đã bắt đầu chạy thử");
  $("#btn-live").onclick = async () => {
    if (await ask({ title: "Khai mạc cuộc họp?", body: "Cuộc họp chuyển sang trạng thái đang họp chính thức.", confirm: "Khai mạc" })) {
      send("set_state", { state: "live" }, "Cuộc họp đã khai mạc");
    }
  };
  $("#btn-end").onclick = async () => {
    if (await ask({ title: "Kết thúc cuộc họp?", body: "Tất cả các phòng sẽ bị ngắt và không thể vào lại.", confirm: "Kết thúc", danger: true })) {
      send("set_state", { state: "ended" });
    }
  };
  $("#btn-lecture").onclick = () => send("lecture_mode");
  $("#btn-revoke").onclick = () => send("revoke_floor");
  $("#speaker-revoke").onclick = () => send("revoke_floor");
  // Let the speaking room present documents too (or take that back): the floor is granted again with it.
  $("#speaker-present").onclick = () => {
    const floor = S.program?.floor_room;
    if (floor) send("grant_floor", { room_id: floor, may_present: !S.program.floor_may_present });
  };
  $("#btn-rc-start").onclick = () => send("roll_call_start");
  $("#btn-rc-end").onclick = async () => {
    const data = await send("roll_call_end");
    if (data?.summary) showSummary(data.summary);
  };
}
