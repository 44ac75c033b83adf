// The meeting WebSocket client (docs/protocol.md): requests with ids, numbered
// events, resume after a drop, reconnect with back-off, and the few endings
// after which it must not reconnect (dropped, ended, replaced, refused).

const FATAL_EVENTS = new Set(["dropped", "ended", "replaced"]);
// 4000 ended, 4001 replaced, 4004 dropped, 4403 refused: reconnecting cannot help.
const FATAL_CLOSE = new Set([4000, 4001, 4004, 4403]);
const FATAL_JOIN = new Set(["meeting_ended", "unauthenticated", "bad_token", "token_expired", "token_revoked",
  "token_wrong_meeting", "token_in_url", "not_terminal",
  "room_not_invited", "not_visible", "not_host", "outside_subtree", "meeting_not_found", "no_chair_room", "chair_room"]);
// confserver/rooms/subprotocol.py: the server accepts "confserver"; the token rides as a second subprotocol.
const SUBPROTOCOL = "confserver";
const TOKEN_PROTOCOL = "confserver.token.";
const PING_EVERY_MS = 15000;
const PING_TIMEOUT_MS = 10000;
const REQUEST_TIMEOUT_MS = 20000;
// A room that may not join yet (not_started, room_dropped) waits on its open socket: the server sends
// `may_join` the moment it may (docs/protocol.md). It knocks again this often in case that was lost.
const WAIT_CODES = new Set(["not_started", "room_dropped"]);
const WAIT_KNOCK_MS = 60000;
const GAP_WAIT_MS = 3000;
const RESYNC_SPREAD_MS = 3000;
const MAX_FRAME = 60000; // the server takes frames up to 64 KB (SDP up to 60000 characters)

export class RequestError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

/**
 * One meeting connection that keeps itself alive.
 *
 * Callbacks (all optional): onSnapshot(snapshot, {resumed, resync}), onEvent(event),
 * onStats(rooms), onStatus(status, detail), onFatal(code, message).
 * status: "connecting" | "joined" | "reconnecting" | "waiting" | "closed".
 */
export class MeetingClient {
  constructor({ meetingId, token = null, handlers = {} }) {
    this.meetingId = meetingId;
    this.token = token;
    this.h = handlers;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.session = null;
    this.lastSeq = 0;
    this.joined = false;
    this.fatal = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.joins = []; // {resumed, replayed, at} per successful join: for the status line and tests
    this.early = []; // events that arrive before the join reply
    this.held = new Map(); // seq -> event, waiting for the ones before it
    this.gapTimer = null;
    this.ackEvery = 100; // events between acknowledgements (a quarter of the server's max_unacked)
    this.acked = 0;
    this.ackToken = null; // from the latest join or ping reply: echoing it acknowledges what came before it
    this.status = "idle";
    window.addEventListener("online", () => this._retryNow());
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/meetings/${this.meetingId}/`;
  }

  /** Sec-WebSocket-Protocol: "confserver", and the room token (never in the URL, which logs keep). */
  protocols() {
    return this.token ? [SUBPROTOCOL, TOKEN_PROTOCOL + this.token] : [SUBPROTOCOL];
  }

  connect() {
    if (this.fatal || this.ws) return;
    clearTimeout(this.retryTimer);
    this._setStatus(this.session ? "reconnecting" : "connecting", { attempt: this.attempt });
    const ws = new WebSocket(this.url(), this.protocols());
    this.ws = ws;
    this.joined = false;
    this.early = [];
    this.lastRefusal = null;
    ws.onopen = () => this._join();
    ws.onmessage = (e) => this._receive(e.data);
    ws.onclose = (e) => this._closed(ws, e.code);
    ws.onerror = () => {}; // onclose follows
  }

  /** Send a request; resolves with the reply's data, rejects with a RequestError. */
  request(type, fields = {}, { timeout = REQUEST_TIMEOUT_MS, beforeJoin = false } = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || (!this.joined && !beforeJoin)) {
      return Promise.reject(new RequestError("disconnected", "Mất kết nối với máy chủ; hãy thử lại."));
    }
    const id = this.nextId++;
    const frame = JSON.stringify({ type, id, ...fields });
    if (frame.length > MAX_FRAME) {
      return Promise.reject(new RequestError("too_large", "Tin nhắn quá lớn để gửi lên máy chủ."));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError("timeout", "Máy chủ không trả lời kịp."));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer, ws: this.ws });
      this.ws.send(frame);
    });
  }

  /** Leave on purpose: no reconnect. */
  async leave() {
    this.fatal = { code: "left", message: "Đã rời cuộc họp." };
    try { await this.request("leave", {}, { timeout: 3000 }); } catch (e) { /* closing anyway */ }
    this._stop();
  }

  // ---- internals -----------------------------------------------------------

  async _join() {
    const resume = this.session ? { session: this.session, last_seq: this.lastSeq } : undefined;
    let data;
    try {
      data = await this.request("join", resume ? { resume } : {}, { beforeJoin: true, timeout: 15000 });
    } catch (err) {
      if (FATAL_JOIN.has(err.code)) return this._fail(err.code, err.message);
      if (WAIT_CODES.has(err.code)) {
        // Not open yet, or dropped by the chair: wait on this socket for `may_join`.
        this._setStatus("waiting", { code: err.code, message: err.message });
        const ws = this.ws;
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => { if (ws === this.ws && this.status === "waiting") this._join(); }, WAIT_KNOCK_MS);
        return;
      }
      this._dropSocket(); // onclose schedules the retry
      return;
    }
    this.attempt = 0;
    this.joined = true;
    if (data.max_unacked) this.ackEvery = Math.max(1, Math.floor(data.max_unacked / 4));
    this.ackToken = data.ack || null;
    this.joins.push({ resumed: !!data.resumed, replayed: data.replayed || 0, at: Date.now() });
    const early = this.early;
    this.early = [];
    this.held.clear();
    if (data.resumed) {
      // The missed events follow the reply, in order.
      this.acked = this.lastSeq;
      this._setStatus("joined", { resumed: true });
    } else {
      this.session = data.session;
      this.lastSeq = data.seq;
      this.acked = data.seq;
      this._setStatus("joined", { resumed: false });
      this.h.onSnapshot?.(data.snapshot, { resumed: false });
    }
    for (const ev of early) this._event(ev);
    this._startPing();
  }

  _receive(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch (e) { return; }
    if (msg.type === "ok" || (msg.type === "error" && msg.id != null)) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === "ok") p.resolve(msg.data || {});
      else p.reject(new RequestError(msg.code, msg.message));
      return;
    }
    if (msg.type === "error") {
      // Not tied to a request: the connection was refused, or a frame was rejected.
      this.lastRefusal = msg;
      console.warn("meeting: server error", msg.code, msg.message);
      return;
    }
    if (msg.type === "stats") {
      this.h.onStats?.(msg.rooms || {});
      return;
    }
    if (msg.type === "relay_move") {
      // The relay carrying our media died or is drained (docs/protocol.md): the media reconnects, the socket stays.
      globalThis.dispatchEvent?.(new CustomEvent("relay_move", { detail: msg }));
      return;
    }
    if (msg.type === "may_join") {
      if (this.status === "waiting" && !this.joined) {
        clearTimeout(this.retryTimer);
        this._join();
      }
      return;
    }
    if (msg.type === "event") {
      if (!this.joined) this.early.push(msg);
      else this._event(msg);
    }
  }

  /** Apply numbered events strictly in order: replayed ones can arrive after newer ones. */
  _event(ev) {
    if (typeof ev.seq !== "number") return this._apply(ev);
    if (ev.seq <= this.lastSeq) return; // already applied, or part of the snapshot
    this.held.set(ev.seq, ev);
    while (this.held.has(this.lastSeq + 1) && !this.fatal) {
      const next = this.held.get(this.lastSeq + 1);
      this.held.delete(next.seq);
      this.lastSeq = next.seq;
      this._apply(next);
    }
    clearTimeout(this.gapTimer);
    this.gapTimer = this.held.size && !this.fatal ? setTimeout(() => this._resync(), GAP_WAIT_MS) : null;
    if (this.lastSeq - this.acked >= this.ackEvery) this._ack();
  }

  /** Tell the server how far we have got: a client that stops reading is cut off (4008) instead of
   * piling up the server's memory, and then resumes. */
  _ack() {
    this.acked = this.lastSeq;
    this._ping().catch(() => {});
  }

  /** A ping that echoes the latest ack token and keeps the new one. */
  async _ping() {
    const data = await this.request("ping", this.ackToken ? { ack: this.ackToken } : {}, { timeout: PING_TIMEOUT_MS });
    if (data?.ack) this.ackToken = data.ack;
    return data;
  }

  _apply(ev) {
    if (ev.event === "resync") return this._redraw(); // the server's live state was rebuilt (issue 9)
    if (FATAL_EVENTS.has(ev.event)) {
      this.fatal = { code: ev.event, message: ev.message };
    }
    this.h.onEvent?.(ev);
    if (this.fatal) this._fail(ev.event, ev.message);
  }

  /** The server asks every client to redraw from a fresh snapshot. */
  async _redraw() {
    // Every client of the worker gets resync at once: spread their snapshots over 0-3 s.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * RESYNC_SPREAD_MS));
    let data;
    try { data = await this.request("snapshot"); } catch (e) { return; }
    this.lastSeq = Math.max(this.lastSeq, data.seq);
    this.h.onSnapshot?.(data.snapshot, { resumed: false, resync: true });
  }

  /** A gap that does not fill: redraw from a fresh snapshot and go on from there. */
  async _resync() {
    this.gapTimer = null;
    if (!this.held.size) return;
    let data;
    try { data = await this.request("snapshot"); } catch (e) { return; }
    for (const seq of [...this.held.keys()]) if (seq <= data.seq) this.held.delete(seq);
    this.lastSeq = Math.max(this.lastSeq, data.seq);
    this.h.onSnapshot?.(data.snapshot, { resumed: false, resync: true });
    const rest = [...this.held.values()];
    this.held.clear();
    rest.forEach((ev) => this._event(ev));
  }

  _closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.joined = false;
    clearInterval(this.pingTimer);
    clearTimeout(this.gapTimer);
    for (const [id, p] of this.pending) {
      if (p.ws === ws) {
        clearTimeout(p.timer);
        p.reject(new RequestError("disconnected", "Mất kết nối với máy chủ; thao tác có thể chưa được thực hiện."));
        this.pending.delete(id);
      }
    }
    if (this.fatal) return this._fail(this.fatal.code, this.fatal.message);
    if (FATAL_CLOSE.has(code)) {
      const r = this.lastRefusal;
      const msg = r ? r.message : closeMessage(code);
      return this._fail(r ? r.code : `closed_${code}`, msg);
    }
    this._scheduleRetry();
  }

  _scheduleRetry() {
    clearTimeout(this.retryTimer);
    this.attempt += 1;
    // 1, 2, 4, 8, then 15 s, each ±30 %, so 250 rooms do not all knock at once.
    const base = Math.min(15000, 1000 * 2 ** (this.attempt - 1));
    const delay = Math.round(base * (0.7 + Math.random() * 0.6));
    this._setStatus("reconnecting", { attempt: this.attempt, delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  _retryNow() {
    if (this.fatal || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  _startPing() {
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.pingTimer = setInterval(async () => {
      if (ws !== this.ws) return clearInterval(this.pingTimer);
      try {
        this.acked = this.lastSeq;
        await this._ping();
      } catch (err) {
        // A link that is silently dead: close it and reconnect (resume).
        if (ws === this.ws && err.code === "timeout") this._dropSocket();
      }
    }, PING_EVERY_MS);
  }

  _dropSocket() {
    const ws = this.ws;
    if (!ws) return;
    try { ws.close(); } catch (e) { /* already closing */ }
    // Do not wait for the closing handshake on a dead link.
    this._closed(ws, 1006);
  }

  _stop() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.gapTimer);
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) { try { ws.close(); } catch (e) { /* ignore */ } }
    this._setStatus("closed", {});
  }

  _fail(code, message) {
    this.fatal = this.fatal || { code, message };
    this._stop();
    this.h.onFatal?.(code, message || closeMessage(code));
  }

  _setStatus(status, detail) {
    this.status = status;
    this.h.onStatus?.(status, detail || {});
  }
}

function closeMessage(code) {
  return {
    4000: "Cuộc họp đã kết thúc.",
    4001: "Phòng đã kết nối từ nơi khác.",
    4004: "Chủ trì đã ngắt kết nối phòng.",
    4403: "Không được phép vào cuộc họp.",
  }[code] || "Mất kết nối.";
}

/** fetch() the HTTP API as JSON; with a room token, as that room. */
export async function api(path, { token = null, method = "GET", body = null } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers["Content-Type"] = "application/json";
  if (!token && method !== "GET") { // a logged-in operator's write: Django's CSRF check wants the cookie's token
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) headers["X-CSRFToken"] = decodeURIComponent(m[1]);
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : null, credentials: "same-origin" });
  } catch (e) { // the browser's own text ("Failed to fetch") is English and says nothing to a delegate
    throw new RequestError("network", "Mất kết nối mạng tới máy chủ; hãy kiểm tra mạng rồi thử lại.");
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { /* empty body */ }
  if (!resp.ok) {
    const err = new RequestError(data?.code || `http_${resp.status}`,
      data?.message || `Máy chủ trả lời lỗi ${resp.status}; hãy thử lại sau ít phút.`);
    err.status = resp.status;
    throw err;
  }
  return data;
}
