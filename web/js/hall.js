// The hall's projector (issue 14, item 6): the current agenda item and who is next on it, the speaker and their
// clock, the vote (how many have voted while it is open; the result and its rule once closed). Read every second
// from /api/votes/…/hall.
import { api } from "./meeting.js";
import { mountSpeakerClock, noteServerTime, serverNow, fmtDuration } from "./speaker-clock.js";
import { el, params } from "./ui.js";
import { resultLines } from "./vote-result.js";

const meetingId = Number(params().get("meeting"));
let state = null, clock = null, failures = 0;
const $ = (id) => document.getElementById(id);

function renderItem(item, next) {
  // Who waits to speak on this item (the server gives the current item's list, in the chair's order).
  const queue = next?.length
    ? el("div", { class: "hall-sub", id: "hall-next" }, `Đăng ký phát biểu tiếp theo: ${next.map((s) => s.delegate.name).join(", ")}`)
    : null;
  $("hall-item").replaceChildren(item
    ? el("div", {}, el("div", { class: "hall-label" }, `Nội dung ${item.position}`), el("div", { class: "hall-big" }, item.title), queue)
    : el("div", {}, el("div", { class: "hall-label" }, "Chưa bắt đầu nội dung nào"), queue));
}

function renderSpeaker(s) {
  const box = $("hall-speaker");
  if (!s) { clock?.stop(); clock = null; box.replaceChildren(); box.hidden = true; return; }
  box.hidden = false;
  const d = s.delegate;
  const key = `${s.id}`;
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    const clockBox = el("div", { id: "hall-clock" });
    box.replaceChildren(
      el("div", { class: "hall-label" }, "Đang phát biểu"),
      el("div", { class: "hall-big", id: "hall-speaker-name" }, d.name),
      el("div", { class: "hall-sub" }, [d.position, d.unit, d.seat === "room" ? `Điểm cầu ${d.room_name}` : null].filter(Boolean).join(" · ")),
      el("div", { class: "hall-sub hall-topic" }, s.topic), clockBox);
    clock?.stop();
    clock = mountSpeakerClock(clockBox, { read: () => ({ since: state?.speaker?.called_at ?? null, limit: state?.speaker?.limit_s ?? null, item: null }) });
  }
}

function renderVote(v) {
  const box = $("hall-vote");
  if (!v) { box.hidden = true; box.replaceChildren(); return; }
  box.hidden = false;
  const head = [el("div", { class: "hall-label" }, v.state === "open" ? "Đang biểu quyết" : "Kết quả biểu quyết"),
    el("div", { class: "hall-big" }, v.question),
    el("div", { class: "hall-sub" }, `${v.secret ? "Bỏ phiếu kín" : "Biểu quyết công khai"} · ${v.rule_label}`)];
  if (v.state === "open") {
    const left = Math.max(0, v.closes_at - serverNow());
    box.replaceChildren(...head, el("div", { class: "hall-count", id: "hall-count" },
      `Đã biểu quyết: ${v.voters ?? 0}/${state.quorum.present} đại biểu có mặt · còn ${fmtDuration(Math.ceil(left))}`));
  } else {
    box.replaceChildren(...head, el("div", { class: "vote-result hall-result", id: "hall-result" }, ...resultLines(v)));
  }
}

function render() {
  $("hall-title").textContent = state.meeting.title;
  document.title = `${state.meeting.title} — Màn hình hội trường`;
  const q = state.quorum;
  $("hall-quorum").textContent = `Có mặt ${q.present}/${q.expected} đại biểu${q.expected ? (q.met ? " · Đủ số" : " · Chưa đủ số") : ""}`;
  renderItem(state.agenda_item, state.next);
  renderSpeaker(state.speaker);
  renderVote(state.vote);
}

async function poll() {
  try {
    state = await api(`/api/votes/meetings/${meetingId}/hall`);
    noteServerTime(state.server_time);
    failures = 0;
    $("hall-alert").hidden = true;
    render();
  } catch (e) {
    failures += 1;
    if (failures >= 3 || e.status) { $("hall-alert").textContent = e.message; $("hall-alert").hidden = false; }
  }
  setTimeout(poll, 1000);
}

if (!meetingId) { $("hall-alert").textContent = "Thiếu số cuộc họp trong địa chỉ (?meeting=…)."; $("hall-alert").hidden = false; }
else poll();
