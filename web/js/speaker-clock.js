// The speaker's clock (issue 12, item 10): how long the room with the floor has spoken, the chair's limit
// and a warning near its end, and the current agenda item's planned minutes counted down. Times come from
// the server (the program's floor_since, the agenda item's `at`), read against the server's clock: the
// snapshot's server_time gives the offset, so a terminal whose own clock is wrong still counts right.
import { el } from "./ui.js";

let offsetMs = 0; // server clock minus this browser's clock

/** Call with a snapshot's server_time (Unix seconds) as it arrives. */
export function noteServerTime(serverTime) {
  if (typeof serverTime === "number" && Number.isFinite(serverTime)) offsetMs = serverTime * 1000 - Date.now();
}

/** The server's time now, in Unix seconds. */
export const serverNow = () => (Date.now() + offsetMs) / 1000;

/** Seconds before the limit when the warning shows: 30 s, less for a short limit (a 3 s limit warns at 2 s). */
export const warnAt = (limit) => Math.min(30, Math.max(2, Math.ceil(limit / 5)));

export function fmtDuration(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

const LIMITS = [null, 60, 120, 180, 300, 600, 900]; // the chair's choices, in seconds (null: no limit)
const limitLabel = (s) => (s == null ? "Không giới hạn" : s % 60 ? `${s} giây` : `${s / 60} phút`);

/**
 * A clock drawn into `root`, refreshed every quarter second while shown.
 * `read()` gives {since, limit, item} each tick: since (server time, s) or null when nobody has the floor,
 * limit (s) or null, item {position, title, planned_minutes, at} or null. With `onLimit` (the chair's console)
 * a choice of limit is drawn too, and `onLimit(seconds | null)` is called when it changes.
 */
export function mountSpeakerClock(root, { read, onLimit = null }) {
  const time = el("span", { class: "sc-time", role: "timer" });
  const note = el("span", { class: "sc-note" });
  const item = el("div", { class: "sc-item" });
  let select = null;
  root.classList.add("speaker-clock");
  const line = el("div", { class: "sc-line" }, el("span", { class: "sc-label" }, "Thời gian nói"), time, note);
  if (onLimit) {
    select = el("select", { class: "sc-limit", title: "Thời gian phát biểu tối đa của phòng đang nói", "aria-label": "Giới hạn thời gian phát biểu" });
    select.onchange = () => onLimit(select.value === "" ? null : Number(select.value));
    line.append(select);
  }
  root.replaceChildren(line, item);
  let shownLimit;

  function limitChoices(limit) {
    if (!select || limit === shownLimit) return;
    shownLimit = limit;
    const values = LIMITS.includes(limit) ? LIMITS : [...LIMITS, limit].sort((a, b) => (a ?? -1) - (b ?? -1));
    select.replaceChildren(...values.map((v) => el("option", { value: v == null ? "" : String(v) }, limitLabel(v))));
    select.value = limit == null ? "" : String(limit);
  }

  function tick() {
    const { since, limit, item: it } = read();
    const now = serverNow();
    root.hidden = since == null && !it?.planned_minutes;
    line.hidden = since == null;
    let state = "idle";
    if (since != null) {
      const spoken = Math.max(0, now - since);
      time.textContent = fmtDuration(spoken);
      root.dataset.elapsed = String(Math.floor(spoken));
      limitChoices(limit ?? null);
      if (limit) {
        const left = limit - spoken;
        root.dataset.remaining = String(Math.ceil(left));
        if (left <= 0) { state = "over"; note.textContent = `Hết giờ phát biểu (quá ${fmtDuration(-left)})`; }
        else if (left <= warnAt(limit)) { state = "warn"; note.textContent = `Sắp hết giờ: còn ${fmtDuration(Math.ceil(left))}`; }
        else { state = "running"; note.textContent = `/ ${fmtDuration(limit)} · còn ${fmtDuration(Math.ceil(left))}`; }
      } else {
        state = "running";
        delete root.dataset.remaining;
        note.textContent = "đã phát biểu";
      }
    }
    root.dataset.state = state;
    root.classList.toggle("sc-warn", state === "warn");
    root.classList.toggle("sc-over", state === "over");
    if (it?.planned_minutes && it.at) {
      const left = it.planned_minutes * 60 - (now - Date.parse(it.at) / 1000);
      item.hidden = false;
      item.classList.toggle("sc-over", left <= 0);
      item.textContent = `Nội dung ${it.position}: dự kiến ${it.planned_minutes} phút · `
        + (left > 0 ? `còn ${fmtDuration(Math.ceil(left))}` : `quá ${fmtDuration(-left)}`);
    } else item.hidden = true;
  }

  tick();
  const timer = setInterval(tick, 250);
  return { refresh: tick, stop: () => clearInterval(timer) };
}
