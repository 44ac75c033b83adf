// Issue 15: the room page says what of the program's picture it receives and why. The relay's tier loop and the
// chair's pin tell the room through the meeting's "tier" event ({room_id, tier, reason}): every frame (nothing
// shown), half or a quarter of the frames, the small picture, or sound only. When no event says so (a relay that
// does not tell), a picture that stopped while the sound goes on for QUIET_S is read from the connection's own
// statistics as sound only.
import { S, app } from "./room-common.js";

// What the room receives, in the room's words (full: nothing to say).
const WHAT = {
  t0t1: "Phòng đang nhận hình với một nửa số khung hình (hình có thể giật) để giữ tiếng nói liên tục.",
  t0: "Phòng đang nhận hình với một phần tư số khung hình (hình giật) để giữ tiếng nói liên tục.",
  low: "Phòng đang nhận hình cỡ nhỏ để giữ tiếng nói liên tục.",
  audio: "Phòng đang chỉ nhận âm thanh, không nhận hình.",
};
// Why, by the reason the relay gives (media/tiers.py).
const WHY = {
  nack: "Lý do: đường truyền tới phòng yếu, nhiều gói tin phải gửi lại.",
  loss: "Lý do: đường truyền tới phòng yếu, mất nhiều gói tin.",
  remb: "Lý do: băng thông đường truyền tới phòng giảm.",
  start: "Lý do: đường truyền tới phòng yếu.",
  recovered: "Đường truyền đã tốt hơn: hình ảnh đang được khôi phục dần.",
  pinned: "Lý do: chủ trì đã chọn mức này cho phòng.",
};
const AFTER = {
  pinned: "Hình ảnh đầy đủ sẽ trở lại khi chủ trì cho phép.",
  link: "Hình ảnh sẽ tự trở lại khi đường truyền tốt hơn.",
};
const WEAK = "Đường truyền của phòng đang yếu: tạm thời chỉ nhận âm thanh. Hình ảnh sẽ tự trở lại khi đường truyền tốt hơn.";
const QUIET_S = 4; // no picture this long, sound still coming: sound only, though no event said so

let told = null; // the last "tier" event for this room: {tier, reason, pc: the media connection it was said of}
let last = null; // {at, frames, audio}
let quietSince = null;

function note() {
  let box = document.getElementById("tier-note");
  if (!box) {
    box = document.createElement("div");
    box.id = "tier-note";
    box.className = "badge warn"; // a line above the program's picture (".notice" is the full-screen kind)
    box.style.cssText = "display: block; margin: 6px 0; white-space: normal; text-align: left;";
    box.setAttribute("role", "status");
    box.hidden = true;
    document.getElementById("program-box")?.before(box);
  }
  return box;
}

function text(tier, reason) {
  if (!WHAT[tier]) return "";
  const after = reason === "pinned" ? AFTER.pinned : reason === "recovered" ? "" : AFTER.link;
  return [WHAT[tier], WHY[reason] || WHY.start, after].filter(Boolean).join(" ");
}

function show() {
  const box = note();
  let tier = told?.tier || "full";
  let words = text(tier, told?.reason);
  if (!words && quietSince !== null && last && last.at - quietSince >= QUIET_S) {
    tier = "audio";
    words = WEAK;
  }
  box.hidden = !words;
  box.textContent = words;
  box.dataset.tier = words ? tier : "full";
  box.dataset.reason = words ? told?.reason || "quiet" : "";
}

window.addEventListener("room:event", (e) => {
  const ev = e.detail;
  if (ev.event !== "tier" || !S.me || ev.room_id !== S.me.room_id) return;
  told = { tier: ev.tier, reason: ev.reason, pc: app.media?.pc };
  show();
});

async function sample() {
  const pc = app.media?.pc;
  // A tier said of an earlier media connection is over: the relay tells each new connection its own (at its first
  // turn, a chair's pin included); until then the room is taken to receive everything.
  if (told && told.pc !== pc) told = null;
  if (!pc || pc.connectionState !== "connected") {
    last = null;
    quietSince = null;
    show();
    return;
  }
  let frames = null, anyFrames = 0, audio = 0;
  const programMid = pc.getTransceivers()[0]?.mid;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video" && s.mid === programMid) frames = s.framesReceived || 0;
    if (s.kind === "video") anyFrames += s.framesReceived || 0;
    if (s.kind === "audio") audio += s.packetsReceived || 0;
  });
  if (frames === null) frames = anyFrames; // a browser without mid in its statistics
  const now = performance.now() / 1000;
  if (last) {
    // only a picture that came and stopped while the sound goes on (not a program that has no picture yet)
    const quiet = frames > 0 && frames === last.frames && audio > last.audio;
    if (!quiet) quietSince = null;
    else if (quietSince === null) quietSince = last.at;
  }
  last = { at: now, frames, audio };
  show();
}

show(); // the note is in the page (hidden) from the start, not from the first sample a second later
setInterval(() => { sample().catch(() => {}); }, 1000);
