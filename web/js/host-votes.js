// The console's speakers and votes (issue 14, items 4-5): the delegates registered to speak in the chair's order
// (move up, call with a limit, end; the speaker's clock), and voting: open a vote on a question (tied to the current
// agenda item, open or secret ballot, the rule, the time limit), the live count, close, the result. The hall's
// projector is web/hall.html. API: /api/votes/meetings/{id}/… (confserver/votes/api.py). Loaded on its own by
// host.html; follows the meeting's events through window "host:event" (host.js). The waiting list is shown per
// agenda item (the current one first): delegates register on the current item or a later one. Each speakers/vote
// event carries its timeline rows (`log`), written into the "Diễn biến" log in the words used after a reload.
import { log } from "./host-common.js";
import { describe } from "./host-timeline.js";
import { api } from "./meeting.js";
import { mountSpeakerClock, noteServerTime, serverNow, fmtDuration } from "./speaker-clock.js";
import { $, el, errorText, params, toast } from "./ui.js";
import { resultLines } from "./vote-result.js";

const meetingId = Number(params().get("meeting"));
const base = `/api/votes/meetings/${meetingId}`;
const LIMITS = [[60, "1 phút"], [120, "2 phút"], [180, "3 phút"], [300, "5 phút"], [600, "10 phút"], ["", "Không giới hạn"]];
const VOTE_LIMITS = [[30, "30 giây"], [60, "1 phút"], [120, "2 phút"], [300, "5 phút"]];
const RULES = [["half_all", "Quá nửa tổng số đại biểu"], ["half_present", "Quá nửa số đại biểu có mặt"],
  ["two_thirds_all", "Ít nhất hai phần ba tổng số đại biểu"]];
const V = { speakers: { current: null, waiting: [], done: [] }, votes: [], live: null, item: null, busy: false };
let clock = null, pollTimer = null;

const options = (list, value) => list.map(([v, label]) => el("option", { value: String(v), selected: String(v) === String(value) ? "" : null }, label));

async function call(path, body = {}, okText = null) {
  try {
    const out = await api(`${base}${path}`, { method: "POST", body });
    if (okText) toast(okText, "ok");
    return out;
  } catch (e) {
    toast(errorText(e), "error");
    return null;
  }
}

function who(s) {
  const d = s.delegate;
  return [d.name, d.position, d.seat === "room" ? d.room_name : "hội trường"].filter(Boolean).join(" · ");
}

function renderSpeakers() {
  const box = $("#vt-speakers");
  const { current, waiting, done } = V.speakers;
  const parts = [];
  if (current) {
    const clockBox = el("div", { id: "vt-clock" });
    parts.push(el("div", { class: "speak-now", id: "vt-current" }, el("div", { class: "muted" }, "Đang phát biểu"),
      el("div", { class: "speak-who" }, who(current)), el("div", { class: "muted" }, current.topic), clockBox,
      el("button", { class: "btn btn-sm", id: "vt-end", onclick: () => call(`/speakers/${current.id}/end`).then(loadSpeakers) }, "Kết thúc phát biểu")));
    clock?.stop();
    clock = mountSpeakerClock(clockBox, {
      read: () => ({ since: V.speakers.current?.called_at ?? null, limit: V.speakers.current?.limit_s ?? null, item: null }),
      onLimit: (s) => V.speakers.current && call(`/speakers/${V.speakers.current.id}/limit`, { limit_s: s }).then(loadSpeakers),
    });
  } else { clock?.stop(); clock = null; }
  const limit = el("select", { id: "vt-limit", "aria-label": "Thời gian cho mỗi đại biểu" }, ...options(LIMITS, V.limit ?? 180));
  limit.onchange = () => { V.limit = limit.value; };
  parts.push(el("div", { class: "row" }, el("span", { class: "muted" }, `Chờ phát biểu: ${waiting.length} · đã phát biểu: ${done.length}`),
    el("label", {}, " Thời gian ", limit)));
  const queue = el("div", { class: "vt-queue", id: "vt-queue" });
  for (const g of byItem(waiting, V.speakers.current_item_id)) {
    const title = g.item ? `Nội dung ${g.item.position}: ${g.item.title}` : "Không gắn nội dung";
    queue.append(el("div", { class: `vt-item${g.now ? " now" : ""}`, "data-item": g.item ? String(g.item.id) : "" },
      el("div", { class: "vt-item-title" }, g.now ? `${title} (đang thảo luận)` : title),
      el("ol", {}, ...g.list.map((s, i) => el("li", { "data-speaker": String(s.id) },
        el("span", {}, who(s)), el("span", { class: "muted" }, ` — ${s.topic}`),
        el("button", { class: "btn btn-sm btn-primary vt-call", onclick: () => callSpeaker(s.id) }, "Mời phát biểu"),
        i > 0 ? el("button", { class: "btn btn-sm", title: "Lên trước", "aria-label": "Lên trước", onclick: () => moveUp(g.list, i) }, "↑") : null)))));
  }
  parts.push(queue);
  box.replaceChildren(...parts);
}

/** The waiting list in groups per agenda item: the current item first, then the agenda's order, then those on no
 *  item; each group in the chair's order. */
function byItem(waiting, currentId) {
  const groups = new Map();
  for (const s of waiting) {
    const key = s.agenda_item?.id ?? 0;
    if (!groups.has(key)) groups.set(key, { item: s.agenda_item, now: key !== 0 && key === currentId, list: [] });
    groups.get(key).list.push(s);
  }
  const rank = (g) => (g.now ? -1 : g.item ? g.item.position : Infinity);
  return [...groups.values()].sort((a, b) => rank(a) - rank(b));
}

async function callSpeaker(id) {
  const raw = $("#vt-limit")?.value ?? "180";
  await call(`/speakers/${id}/call`, { limit_s: raw === "" ? null : Number(raw) }, "Đã mời đại biểu phát biểu.");
  loadSpeakers();
}

async function moveUp(list, i) {
  const ids = list.map((s) => s.id); // one item's list: the server keeps the others' order after them
  [ids[i - 1], ids[i]] = [ids[i], ids[i - 1]];
  const out = await call("/speakers/order", { ids });
  if (out) { V.speakers = out; renderSpeakers(); }
}

function openVote() { return V.votes.find((v) => v.state === "open") || null; }

function renderVotes() {
  const box = $("#vt-votes");
  const v = openVote();
  if (v) {
    const live = V.live || {};
    const left = Math.max(0, v.closes_at - serverNow());
    const split = v.secret ? " (bỏ phiếu kín: chỉ hiện số đã bỏ phiếu)" : ` — tán thành ${live.yes ?? 0}, không tán thành ${live.no ?? 0}, không biểu quyết ${live.abstain ?? 0}`;
    const count = `Đã biểu quyết ${live.voters ?? 0}/${live.present ?? "?"} đại biểu có mặt${split}`;
    const remaining = `Còn ${fmtDuration(Math.ceil(left))}`;
    if (box.dataset.vote === String(v.id)) {
      // The same vote, polled each second: only its words change. The close button stays the same element, so a
      // tap that lands while the count refreshes is not lost on a button just replaced.
      $("#vt-live").textContent = count;
      $("#vt-left").textContent = remaining;
      return;
    }
    box.dataset.vote = String(v.id);
    box.replaceChildren(el("div", { class: "vote-question" }, v.question),
      el("div", { class: "vt-live", id: "vt-live" }, count),
      el("div", { class: "vt-live", id: "vt-left" }, remaining),
      el("button", { class: "btn btn-sm btn-danger", id: "vt-close", onclick: () => closeVote(v.id) }, "Kết thúc biểu quyết"));
    return;
  }
  delete box.dataset.vote;
  const last = V.votes[0];
  const form = el("form", { class: "vt-form", id: "vt-form", onsubmit: startVote },
    el("label", { for: "vt-question" }, "Nội dung biểu quyết"),
    el("textarea", { id: "vt-question", rows: "2", maxlength: "500", required: "" }),
    el("div", { class: "row" },
      el("label", {}, el("input", { type: "checkbox", id: "vt-secret" }), " Bỏ phiếu kín"),
      el("label", {}, el("input", { type: "checkbox", id: "vt-item", checked: V.item ? "" : null, disabled: V.item ? null : "" }),
        V.item ? ` Gắn với nội dung ${V.item.position}` : " (chưa có nội dung đang thảo luận)")),
    el("div", { class: "row" },
      el("label", {}, "Thông qua khi ", el("select", { id: "vt-rule" }, ...options(RULES, "half_all"))),
      el("label", {}, "Thời gian ", el("select", { id: "vt-time" }, ...options(VOTE_LIMITS, 60)))),
    el("button", { class: "btn btn-primary", id: "vt-open", type: "submit" }, "Bắt đầu biểu quyết"));
  const parts = [form];
  if (last) parts.push(el("div", { class: "vote-result", id: "vt-result" }, el("div", { class: "muted" }, `Lần trước: ${last.question}`), ...resultLines(last)));
  box.replaceChildren(...parts);
}

async function startVote(ev) {
  ev.preventDefault();
  const body = { question: $("#vt-question").value.trim(), secret: $("#vt-secret").checked, rule: $("#vt-rule").value,
    limit_s: Number($("#vt-time").value) };
  if ($("#vt-item").checked && V.item) body.agenda_item_id = V.item.id;
  if (await call("/votes", body, "Đã bắt đầu biểu quyết.")) loadVotes();
}

async function closeVote(id) {
  if (await call(`/votes/${id}/close`, {}, "Đã kết thúc biểu quyết.")) loadVotes();
}

async function loadSpeakers() {
  try { const out = await api(`${base}/speakers`); noteServerTime(out.server_time); V.speakers = out; } catch (e) { return; }
  renderSpeakers();
}

let votesSeq = 0;

async function loadVotes() {
  // Only the latest read is shown: the second's poll answered after the close's read showed the vote open again.
  const mine = ++votesSeq;
  let out, hall;
  try {
    out = await api(`${base}/votes`);
    hall = await api(`${base}/hall`).catch(() => null);
  } catch (e) { if (mine === votesSeq) { delete $("#vt-votes").dataset.vote; $("#vt-votes").textContent = errorText(e, "tải biểu quyết"); } return; }
  if (mine !== votesSeq) return;
  noteServerTime(out.server_time);
  V.votes = out.votes; V.live = out.live;
  V.item = hall?.agenda_item ?? V.item;
  renderVotes();
  clearTimeout(pollTimer);
  if (openVote()) pollTimer = setTimeout(loadVotes, 1000); // the live count while a vote is open
}

function onEvent(ev) {
  for (const row of ev.log || []) { const d = describe(row); if (d) log(d[0], d[1]); }
  if (ev.event === "speakers") {
    V.speakers = { current: ev.current, waiting: ev.waiting, done: ev.done, current_item_id: ev.current_item_id };
    renderSpeakers();
  }
  else if (ev.event === "vote_opened" || ev.event === "vote_closed") loadVotes();
  else if (ev.event === "agenda_item") {
    V.item = ev.item;
    if (!openVote()) renderVotes();
    V.speakers.current_item_id = ev.item?.id ?? null;
    renderSpeakers();
  }
}

function start() {
  if (!meetingId || !$("#vt-panel")) return;
  window.addEventListener("host:event", (e) => onEvent(e.detail));
  $("#vt-hall").href = `/web/hall.html?meeting=${meetingId}`;
  loadSpeakers();
  loadVotes();
}

start();
