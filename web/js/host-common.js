// The host console's shared state and small helpers: what every console module reads and writes.
import { LocalMedia } from "./media.js";
import { $, el, errorText, params, toast } from "./ui.js";

export const meetingId = Number(params().get("meeting"));

export const S = {
  meeting: null,
  me: null,
  state: null,
  program: { mode: "lecture" },
  queue: [],
  muted: new Set(),
  online: new Set(),
  rooms: new Map(), // room_id -> room row from the snapshot (kept up to date)
  order: [],
  rollCall: false,
  quality: {},
  page: 0,
  pageSize: Number(localStorage.getItem("confserver.mv.size") || 9),
  mvRooms: [],
  mvSent: false,
  micOn: true,
  startedAt: null,
  recording: { on: false, since: null }, // {on, since, failure?}: whether the program is being recorded
  recordedOnce: false, // recording ran since this page opened: the button reads "Ghi hình lại"
  recAlertClosed: false,
};

// Paperless: the agenda, the document previewed here, and what every room is shown.
export const H = {
  items: [],
  docs: [],
  loaded: false,
  currentItem: null,
  present: null, // the latest `present` event, null when nobody presents
  view: null, // {document_id, version_id, title, page, page_count}: the console's preview
  syncSeq: -1,
  inflight: 0, // our own `present` requests not answered yet
  tab: "mv",
};

/** The console's connections: the meeting socket (MeetingClient), the chair's media link, its camera and mic. */
export const app = {
  client: null,
  media: null,
  local: new LocalMedia("confserver.host.devices"),
};

/** A request on the meeting socket; a refusal is shown as a toast (in Vietnamese, errorText) and gives null. */
export async function send(type, fields = {}, okText = null) {
  try {
    const data = await app.client.request(type, fields);
    if (okText) toast(okText, "ok", 2500);
    return data;
  } catch (err) {
    toast(errorText(err), "error");
    return null;
  }
}

export const LOG_MAX = 200;

/** One line of the "Diễn biến" log, at `at` (a Date or ISO time; now by default). */
export function logLine(text, kind = "", at = null) {
  const d = at ? new Date(at) : new Date();
  const time = d.toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return el("li", { class: kind, dataset: { at: String(d.getTime()) } }, el("time", {}, time), " ", text);
}

/** A line in the console's "Diễn biến" log (newest on top). */
export function log(text, kind = "") {
  const list = $("#log");
  list.prepend(logLine(text, kind));
  while (list.children.length > LOG_MAX) list.lastChild.remove();
}

export function nameOf(id) {
  return S.rooms.get(id)?.name || (id ? `Phòng ${id}` : "—");
}

/** Without the "Phòng họp " every room name starts with, for tight places. */
export function shortName(id) {
  return nameOf(id).replace(/^Phòng họp\s+/i, "");
}

export function notice(title, text) {
  $("#notice-title").textContent = title;
  $("#notice-text").textContent = text || "";
  $("#notice").hidden = false;
}
