// The room page's shared state and small helpers: what every room module reads and writes.
import { LocalMedia } from "./media.js";
import { $, params } from "./ui.js";

export const query = params();
export const meetingId = Number(query.get("meeting"));
export const token = roomToken();

/** The room's token: from the link's fragment (#token=…, which browsers never send, so no log keeps it),
 * then kept in sessionStorage for reloads and wiped from the address bar. */
function roomToken() {
  const key = `confserver.token.${meetingId}`;
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    try { sessionStorage.setItem(key, fromLink); } catch (e) { /* storage off: this page load only */ }
    history.replaceState(null, "", location.pathname + location.search);
    return fromLink;
  }
  try { return sessionStorage.getItem(key); } catch (e) { return null; }
}

export const S = {
  meeting: null,
  names: new Map(),
  snapshot: null,
  me: null,
  state: null,
  program: null,
  queue: [],
  muted: new Set(),
  rollCall: false,
  answered: false,
  micOn: true,
  joined: false,
  recording: { on: false, since: null }, // {on, since, failure?}: the red mark shows while on
};

// Paperless: the agenda, the page on screen, and the synced view.
export const D = {
  items: [],
  docs: [],
  loaded: false,
  currentItem: null, // {id, position, title} | null
  itemAt: null, // when the current item became current (server time, ISO): its planned minutes count down from it
  present: null, // the latest `present` event (or sync_state.present), null when nobody presents
  following: true, // in the synced view: the viewer follows `present`
  view: null, // {document_id, version_id, title, page, page_count}
  shown: null, // "version/page" of the image on screen
  syncSeq: -1,
  tab: "video",
  tabChosen: false, // the delegate picked a tab: a presentation does not switch it (issue 12, item 1)
  loadedAt: 0,
};

/** The room's connections: the meeting socket (a MeetingClient), its media link, its camera and mic. */
export const app = {
  client: null,
  media: null,
  local: new LocalMedia(),
};

export const hasFloor = () => S.me && S.program?.floor_room === S.me.room_id;
// The chair may let the room that has the floor present documents to everyone.
export const mayPresent = () => hasFloor() && !!S.program?.floor_may_present;
export const presentingMine = () => !!(D.present && S.me && D.present.presenter?.room_id === S.me.room_id);
export const nameOf = (id) => S.names.get(id) || `Phòng ${id}`;

export function notice(title, text, button = null, action = null) {
  $("#notice-title").textContent = title;
  $("#notice-text").textContent = text || "";
  const btn = $("#notice-btn");
  btn.hidden = !button;
  if (button) {
    btn.textContent = button;
    btn.onclick = action || (() => location.reload());
  }
  $("#notice").hidden = false;
}
