// Voting on the delegate's tablet (issue 14, item 5): the open vote's question and time left, three choices, a
// confirmation, then the ballot is sent until the server acknowledges it (it is committed before that). One key per
// ballot, kept in localStorage: a retry after a lost answer, or after a reload, is counted once. Results when closed.
import { noteServerTime, serverNow, fmtDuration } from "./speaker-clock.js";
import { el, toast } from "./ui.js";
import { resultLines } from "./vote-result.js";

const CHOICES = [["yes", "Tán thành"], ["no", "Không tán thành"], ["abstain", "Không biểu quyết"]];
const LABEL = Object.fromEntries(CHOICES);
const S = { vote: null, voted: false, choice: null, picked: null, sending: false, error: "" };
let session, root, timer;

function ensureCss() {
  if (document.querySelector('link[href="/web/css/votes.css"]')) return;
  document.head.append(el("link", { rel: "stylesheet", href: "/web/css/votes.css" }));
}

function keyFor(voteId) {
  const name = `vote-key-${session.meetingId}-${voteId}-${session.delegate?.id}`;
  let k = null;
  try { k = localStorage.getItem(name); } catch (e) { /* private mode */ }
  if (!k) {
    k = (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).replace(/[^A-Za-z0-9_-]/g, "");
    try { localStorage.setItem(name, k); } catch (e) { /* this visit only */ }
  }
  return k;
}

function render() {
  const body = el("div", { class: "body" });
  const v = S.vote;
  if (!v) body.append(el("p", { class: "muted" }, "Chưa có biểu quyết nào."));
  else {
    body.append(el("div", { class: "vote-question", id: "vote-question" }, v.question),
      el("div", { class: "muted" }, [v.agenda_item ? `Nội dung ${v.agenda_item.position}: ${v.agenda_item.title} · ` : "",
        v.secret ? "Bỏ phiếu kín" : "Biểu quyết công khai"].join("")));
    if (v.state === "open") {
      body.append(el("div", { class: "vote-left", id: "vote-left", role: "timer" }));
      if (S.voted) {
        body.append(el("div", { class: "vote-done", id: "vote-done" },
          S.choice ? `Đã ghi nhận phiếu của bạn: ${LABEL[S.choice]}.` : "Đã ghi nhận phiếu (bỏ phiếu kín).",
          " Phiếu đã ghi không thể thay đổi."));
      } else if (!session.delegate?.checked_in) {
        body.append(el("p", { class: "vote-warn" }, "Bạn cần điểm danh trước khi biểu quyết."));
      } else if (S.picked) {
        body.append(el("p", { class: "vote-confirm" }, `Bạn chọn: `, el("strong", {}, LABEL[S.picked]),
          ". Phiếu đã gửi không thể thay đổi."),
        el("div", { class: "btn-row" },
          el("button", { class: "btn btn-primary btn-lg", id: "vote-send", disabled: S.sending ? "" : null,
            onclick: send }, S.sending ? "Đang gửi phiếu…" : "Gửi phiếu"),
          el("button", { class: "btn btn-lg", disabled: S.sending ? "" : null,
            onclick: () => { S.picked = null; render(); } }, "Chọn lại")));
      } else {
        body.append(el("div", { class: "vote-choices" }, ...CHOICES.map(([c, label]) =>
          el("button", { class: `btn btn-lg vote-choice vote-${c}`, id: `vote-${c}`,
            onclick: () => { S.picked = c; render(); } }, label))));
      }
      if (S.error) body.append(el("p", { class: "vote-warn", role: "alert" }, S.error));
    } else {
      if (S.voted) body.append(el("div", { class: "muted" }, S.choice ? `Phiếu của bạn: ${LABEL[S.choice]}.` : "Bạn đã biểu quyết."));
      body.append(el("div", { class: "vote-result", id: "vote-result" }, ...resultLines(v)));
    }
  }
  root.replaceChildren(el("header", {}, "Biểu quyết"), body);
  tick();
}

function tick() {
  const left = document.getElementById("vote-left");
  if (!left || !S.vote || S.vote.state !== "open") return;
  const s = S.vote.closes_at - serverNow();
  left.textContent = s > 0 ? `Còn ${fmtDuration(Math.ceil(s))}` : "Hết giờ biểu quyết";
  left.classList.toggle("warn", s <= 10);
  if (s <= -2 && !S.reloading) { S.reloading = true; load().finally(() => { S.reloading = false; }); }
}

async function send() {
  if (S.sending || !S.vote || !S.picked) return;
  S.sending = true; S.error = ""; render();
  const voteId = S.vote.id, body = { choice: S.picked, key: keyFor(voteId) };
  for (let attempt = 0; ; attempt++) {
    try {
      const ack = await session.api(`/api/votes/meetings/${session.meetingId}/votes/${voteId}/ballot`, { method: "POST", body });
      S.voted = true; S.choice = ack.choice; S.picked = null;
      toast("Đã ghi nhận phiếu biểu quyết.", "ok");
      break;
    } catch (e) {
      // The network, or a worker gone: send the same ballot (same key) again until the server answers.
      if ((e.code === "network" || e.status >= 500 || e.status === 0) && attempt < 20 && S.vote?.id === voteId) {
        S.error = "Mạng chập chờn: đang gửi lại phiếu…"; render();
        await new Promise((r) => setTimeout(r, Math.min(4000, 300 * 2 ** attempt)));
        continue;
      }
      if (e.code === "already_voted") { S.voted = true; S.picked = null; }
      S.error = e.message;
      break;
    }
  }
  S.sending = false;
  await load();
}

async function load() {
  try {
    const mine = await session.api(`/api/votes/meetings/${session.meetingId}/mine`);
    noteServerTime(mine.server_time);
    const changed = mine.vote?.id !== S.vote?.id;
    S.vote = mine.vote; S.voted = mine.voted; S.choice = mine.choice;
    if (changed) { S.picked = null; S.error = ""; }
    window.dispatchEvent(new CustomEvent("delegate:speakers", { detail: mine.speakers }));
  } catch (e) {
    S.error = e.message;
  }
  render();
}

function init(s) {
  session = s;
  root = document.getElementById("vote");
  if (!root) return;
  ensureCss();
  root.classList.add("panel", "vote-panel");
  session.on("vote_opened", () => { toast("Bắt đầu biểu quyết.", "info"); load(); });
  session.on("vote_closed", () => load());
  session.on("delegate_checkin", (ev) => {
    if (ev.delegate_id === session.delegate?.id) { session.delegate.checked_in = true; render(); }
  });
  clearInterval(timer);
  timer = setInterval(tick, 500);
  load();
}

if (window.delegateSession) init(window.delegateSession);
else window.addEventListener("delegate:ready", (e) => init(e.detail), { once: true });
