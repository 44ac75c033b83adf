// Camera, microphone and the one WebRTC connection to the meeting's media relay.
//
// Slots (confserver/media/service.py): the browser offers, in this order,
//   mid 0  video sendrecv  camera out, program in (video slot 0)
//   mid 1  audio sendrecv  microphone out, the chair's audio in (audio slot 0)
//   mid 2  audio recvonly  the floor / broadcast room's audio (audio slot 1)
//   mid 3… video recvonly  the console's multiview tiles (video slots 1…16)
//   last   video sendonly  the shared low layer (when the server's snapshot says `low_layer`): a clone of the
//                          camera at ~320x180, 15 fps, 150 kbps, sent only while setLowSending(true) (the chair's
//                          console; a room while it has the floor or broadcasts): confserver/media/lowlayer.py
// The relay numbers slots per kind in m-line order, so the transceiver order is the contract.

const GATHER_WAIT_MS = 2500;
const HANDOVER_MAX_MS = 8000; // a drain: the old connection is closed by then, picture or not
const HANDOVER_SETTLE_MS = 150; // after the new connection's first frame: the page's <video> takes it at once
const DISCONNECTED_GRACE_MS = 15000; // thin links drop consent checks for a few seconds and recover
// The shared low layer (issue 15): what a room whose link carries no more than ~200 kbps is sent of the program.
export const LOW_LAYER = { height: 180, maxBitrate: 150000, maxFramerate: 15 };

/** Local camera + microphone with device choice, remembered per browser. */
export class LocalMedia {
  constructor(storageKey = "confserver.devices") {
    this.key = storageKey;
    this.stream = null;
    this.videoTrack = null;
    this.audioTrack = null;
    this.error = null;
    let saved = {};
    try { saved = JSON.parse(localStorage.getItem(this.key) || "{}"); } catch (e) { /* none */ }
    this.cameraId = saved.camera || "";
    this.micId = saved.mic || "";
  }

  async devices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      cameras: all.filter((d) => d.kind === "videoinput"),
      mics: all.filter((d) => d.kind === "audioinput"),
    };
  }

  /** (Re)open the chosen devices; falls back to audio only or video only when one is missing. */
  async open({ camera = this.cameraId, mic = this.micId } = {}) {
    this.cameraId = camera;
    this.micId = mic;
    localStorage.setItem(this.key, JSON.stringify({ camera, mic }));
    const video = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 25 } };
    if (camera) video.deviceId = { exact: camera };
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (mic) audio.deviceId = { exact: mic };
    this.close();
    this.error = null;
    const tries = [{ video, audio }, { video: false, audio }, { video, audio: false }];
    for (const constraints of tries) {
      try {
        this.stream = await navigator.mediaDevices.getUserMedia(constraints);
        break;
      } catch (err) {
        this.error = this.error || err;
        if (camera || mic) {
          // A remembered device that is gone: try the default ones.
          return this.open({ camera: "", mic: "" });
        }
      }
    }
    this.videoTrack = this.stream?.getVideoTracks()[0] || null;
    this.audioTrack = this.stream?.getAudioTracks()[0] || null;
    if (this.videoTrack) this.videoTrack.contentHint = "motion";
    return this.stream;
  }

  setMicEnabled(on) {
    if (this.audioTrack) this.audioTrack.enabled = on;
  }

  close() {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.videoTrack = this.audioTrack = null;
  }
}

/** Fill a <select> with devices, keeping the current choice. */
export function fillDeviceSelect(select, devices, current, noneLabel) {
  select.textContent = "";
  if (!devices.length) {
    select.append(new Option(noneLabel, ""));
    select.disabled = true;
    return;
  }
  select.disabled = false;
  devices.forEach((d, i) => {
    const opt = new Option(d.label || `Thiết bị ${i + 1}`, d.deviceId);
    opt.selected = d.deviceId === current;
    select.append(opt);
  });
}

/**
 * The peer connection to the relay, re-made whenever it fails.
 *
 * send(type, fields) is the signaling request function; onSlot(kind, index, track)
 * gives each incoming track its slot; onState(state) reports "connecting",
 * "connected", "retrying" or "closed".
 */
export class MediaLink {
  constructor({ send, extraVideo = 0, maxVideoKbps = 600, onSlot, onState, onConnected }) {
    this.send = send;
    this.extraVideo = extraVideo;
    this.maxVideoKbps = maxVideoKbps;
    this.onSlot = onSlot;
    this.onState = onState;
    this.onConnected = onConnected;
    this.pc = null;
    this.iceServers = [];
    this.video = null;
    this.audio = null;
    this.failures = 0;
    this.retryTimer = null;
    this.discTimer = null;
    this.generation = 0;
    this.closed = false;
    this.state = "idle";
    this.leaving = null; // a drain's old connection, kept until the new one shows a picture
    this.lowLayer = false; // offer the low layer's m-line (the server's `low_layer`), from the next start()
    this.lowSending = false; // send the camera's low copy on it now
    this.lowTx = null;
    this.lowTrack = null; // the clone sent, and the camera track it copies
    this.lowSource = null;
    // `relay_move` (meeting.js): a new peer connection at once, its offer reaches the room's new relay. A drain
    // (the old relay lives) is make-before-break: the old connection plays on until the new one has a picture.
    globalThis.addEventListener?.("relay_move", (e) => {
      if (!this.closed && this.pc) this.start(this.iceServers, { keepOld: e.detail?.reason === "draining" });
    });
  }

  setTracks(video, audio) {
    this.video = video;
    this.audio = audio;
    if (!this.pc) return;
    const [v, a] = this.pc.getTransceivers();
    v?.sender.replaceTrack(video).catch(() => this.restart("track"));
    a?.sender.replaceTrack(audio).catch(() => this.restart("track"));
    this._sendLow();
  }

  /** Send the shared low layer (a small copy of the camera) or stop it; the relay gives it to weak rooms. */
  setLowSending(on) {
    if (this.lowSending === !!on) return;
    this.lowSending = !!on;
    this._sendLow();
  }

  _lowCopy() {
    if (!this.lowSending || !this.video || this.video.readyState === "ended") return null;
    if (!this.lowTrack || this.lowSource !== this.video) {
      this.lowTrack?.stop();
      this.lowTrack = this.video.clone();
      this.lowSource = this.video;
    }
    return this.lowTrack;
  }

  _sendLow() {
    const tx = this.lowTx;
    const track = this._lowCopy();
    if (!track) {
      this.lowTrack?.stop();
      this.lowTrack = this.lowSource = null;
    }
    if (!tx || !this.pc) return;
    const sender = tx.sender;
    sender.replaceTrack(track).then(() => {
      if (!track) return;
      const params = sender.getParameters();
      if (!params.encodings?.length) return;
      Object.assign(params.encodings[0], lowEncoding(track));
      return sender.setParameters(params);
    }).catch((err) => console.warn("media: low layer", err));
  }

  /** Open (or re-open) the connection: new RTCPeerConnection, offer, answer. */
  async start(iceServers = this.iceServers, { keepOld = false } = {}) {
    this.closed = false;
    this.iceServers = iceServers || [];
    clearTimeout(this.retryTimer);
    const gen = ++this.generation;
    const leaving = keepOld && this.pc ? this._keep() : null;
    const pending = []; // the new connection's tracks, given to the page once it has a picture (drain only)
    this._teardown();
    this._setState("connecting");
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    const slots = new Map(); // transceiver -> [kind, index]
    // The relay forwards this one stream to every room: keep it within a commune's link.
    // L1T3: three temporal layers, so the relay can send a weak room a half or a quarter of the frames
    // without re-encoding (issue 15; Chromium >= 111, others ignore it).
    const sendEncodings = [{ maxBitrate: this.maxVideoKbps * 1000, scalabilityMode: "L1T3" }];
    slots.set(pc.addTransceiver(this.video || "video", { direction: "sendrecv", sendEncodings }), ["video", 0]);
    slots.set(pc.addTransceiver(this.audio || "audio", { direction: "sendrecv" }), ["audio", 0]);
    slots.set(pc.addTransceiver("audio", { direction: "recvonly" }), ["audio", 1]);
    for (let i = 1; i <= this.extraVideo; i++) {
      slots.set(pc.addTransceiver("video", { direction: "recvonly" }), ["video", i]);
    }
    this.lowTx = null;
    if (this.lowLayer) {
      const low = this._lowCopy();
      this.lowTx = pc.addTransceiver(low || "video", { direction: "sendonly", sendEncodings: [lowEncoding(low)] });
    }
    onlyRelayCodecs(pc);
    pc.ontrack = (e) => {
      const slot = slots.get(e.transceiver);
      if (!slot || gen !== this.generation) return;
      if (leaving) pending.push([slot[0], slot[1], e.track]);
      else this.onSlot?.(slot[0], slot[1], e.track);
    };
    const late = [];
    let answered = false;
    pc.onicecandidate = (e) => {
      if (gen !== this.generation) return;
      const c = e.candidate;
      const msg = c
        ? { candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex }
        : { candidate: null, sdp_mid: null, sdp_mline_index: null };
      if (answered) this.send("ice_candidate", msg).catch(() => {});
      else late.push(msg);
    };
    pc.onconnectionstatechange = () => this._pcState(pc, gen);
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, GATHER_WAIT_MS);
      if (gen !== this.generation) return;
      const sent = pc.localDescription.sdp;
      const reply = await this.send("sdp_offer", { sdp: sent }, { timeout: 30000 });
      if (gen !== this.generation) return;
      await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
      answered = true;
      if (leaving) this._handover(gen, pending, leaving);
      // Trickle what was found after the offer left (the offer carried the rest).
      for (const msg of late.filter((m) => !m.candidate || !sent.includes(m.candidate))) {
        this.send("ice_candidate", msg).catch(() => {});
      }
    } catch (err) {
      if (leaving) this._handover(gen, pending, leaving, true);
      if (gen !== this.generation) return;
      console.warn("media: offer failed", err);
      this._scheduleRetry();
    }
  }

  /** Re-make the connection soon (after a failure), with back-off. */
  restart(reason) {
    if (this.closed) return;
    console.info("media: restart", reason);
    this._scheduleRetry();
  }

  close() {
    this.closed = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    this._teardown();
    this.lowTrack?.stop();
    this.lowTrack = this.lowSource = null;
    this._closeLeaving();
    this._setState("closed");
  }

  /** getStats() boiled down per slot, for the page and for tests. */
  async stats() {
    const pc = this.pc;
    if (!pc) return { connectionState: "none", slots: {} };
    const mids = new Map();
    pc.getTransceivers().forEach((t, i) => mids.set(t.mid, i));
    const report = await pc.getStats();
    const slots = {};
    const out = {};
    let rtt = null;
    const lowMid = this.lowTx?.mid ?? null;
    report.forEach((r) => {
      if (r.type === "outbound-rtp" && r.kind === "video" && lowMid !== null && r.mid === lowMid) {
        out.videoLow = {
          bytesSent: r.bytesSent, packetsSent: r.packetsSent, framesEncoded: r.framesEncoded ?? null,
          frameWidth: r.frameWidth ?? null, frameHeight: r.frameHeight ?? null, framesPerSecond: r.framesPerSecond ?? null,
        };
      } else if (r.type === "inbound-rtp") {
        const name = slotName(r.kind, mids.get(r.mid));
        slots[name] = {
          kind: r.kind, mid: r.mid, framesDecoded: r.framesDecoded ?? null, framesPerSecond: r.framesPerSecond ?? null,
          frameWidth: r.frameWidth ?? null, frameHeight: r.frameHeight ?? null, packetsReceived: r.packetsReceived,
          packetsLost: r.packetsLost, bytesReceived: r.bytesReceived, jitter: r.jitter, keyFramesDecoded: r.keyFramesDecoded ?? null,
        };
      } else if (r.type === "outbound-rtp") {
        out[r.kind] = { bytesSent: r.bytesSent, packetsSent: r.packetsSent, framesEncoded: r.framesEncoded ?? null };
      } else if (r.type === "candidate-pair" && r.nominated && r.currentRoundTripTime != null) {
        rtt = r.currentRoundTripTime;
      }
    });
    return {
      connectionState: pc.connectionState, iceConnectionState: pc.iceConnectionState, rtt, slots, outbound: out,
    };
  }

  // ---- internals -----------------------------------------------------------

  _pcState(pc, gen) {
    if (gen !== this.generation) return;
    const s = pc.connectionState;
    clearTimeout(this.discTimer);
    if (s === "connected") {
      this.failures = 0;
      this._setState("connected");
      this.onConnected?.();
    } else if (s === "failed") {
      this.restart("failed");
    } else if (s === "disconnected") {
      // Often comes back by itself (ICE consent); re-make it if it does not.
      this._setState("connecting");
      this.discTimer = setTimeout(() => this.restart("disconnected"), DISCONNECTED_GRACE_MS);
    }
  }

  _scheduleRetry() {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.failures += 1;
    const delay = Math.min(30000, 1000 * 2 ** Math.min(this.failures - 1, 5)) * (0.7 + Math.random() * 0.6);
    this._setState("retrying");
    this.retryTimer = setTimeout(() => this.start(), delay);
  }

  /** Keep the current connection playing, detached from this link (a drain's old one); returns it. */
  _keep() {
    this._closeLeaving();
    const pc = this.pc;
    pc.onicecandidate = pc.onconnectionstatechange = pc.ontrack = null;
    clearTimeout(this.discTimer);
    this.pc = null;
    this.leaving = pc;
    return pc;
  }

  /** Give the page the new connection's tracks once its picture shows (a hidden <video> decodes its first
   * frame), then close the old one; at the latest after HANDOVER_MAX_MS, or at once when `now`. */
  _handover(gen, pending, leaving, now = false) {
    let done = false;
    let probe = null;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (probe) probe.srcObject = null;
      if (gen === this.generation) pending.splice(0).forEach(([kind, index, track]) => this.onSlot?.(kind, index, track));
      if (this.leaving === leaving) this._closeLeaving();
    };
    const timer = setTimeout(finish, now ? 0 : HANDOVER_MAX_MS);
    const video = pending.find(([kind, index]) => kind === "video" && index === 0)?.[2];
    if (now || !video || !globalThis.document) return;
    probe = document.createElement("video");
    probe.muted = true;
    probe.playsInline = true;
    probe.onresize = () => { if (probe.videoWidth) setTimeout(finish, HANDOVER_SETTLE_MS); };
    probe.srcObject = new MediaStream([video]);
    probe.play().catch(() => {});
  }

  _closeLeaving() {
    if (!this.leaving) return;
    try { this.leaving.close(); } catch (e) { /* already closed */ }
    this.leaving = null;
  }

  _teardown() {
    clearTimeout(this.discTimer);
    this.lowTx = null;
    if (this.pc) {
      this.pc.ontrack = this.pc.onicecandidate = this.pc.onconnectionstatechange = null;
      try { this.pc.close(); } catch (e) { /* already closed */ }
      this.pc = null;
    }
  }

  _setState(s) {
    this.state = s;
    this.onState?.(s);
  }
}

/** The low layer's encoding for `track`: scaled down to about LOW_LAYER.height lines. */
function lowEncoding(track) {
  const height = track?.getSettings?.().height || 360;
  return {
    maxBitrate: LOW_LAYER.maxBitrate,
    maxFramerate: LOW_LAYER.maxFramerate,
    scaleResolutionDownBy: Math.max(1, height / LOW_LAYER.height),
  };
}

function slotName(kind, transceiverIndex) {
  if (kind === "audio") return transceiverIndex === 2 ? "audio1" : "audio0";
  if (transceiverIndex === 0 || transceiverIndex == null) return "video0";
  return `video${transceiverIndex - 2}`; // mids 3… are video slots 1…
}

// Offer only what the relay forwards (VP8 with its RTX, Opus): it keeps the SDP small
// (19 m-lines with every codec Chrome knows pass the 64 KB frame limit) and the choice certain.
function onlyRelayCodecs(pc) {
  const keep = {
    video: (m) => m === "video/vp8" || m === "video/rtx",
    audio: (m) => m === "audio/opus",
  };
  for (const kind of ["video", "audio"]) {
    const caps = window.RTCRtpReceiver?.getCapabilities?.(kind);
    if (!caps) continue;
    const codecs = caps.codecs.filter((c) => keep[kind](c.mimeType.toLowerCase()));
    if (!codecs.length) continue;
    for (const t of pc.getTransceivers()) {
      if (t.receiver.track.kind !== kind || !t.setCodecPreferences) continue;
      try { t.setCodecPreferences(codecs); } catch (e) { console.warn("setCodecPreferences", e); }
    }
  }
}

function gathered(pc, waitMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const timer = setTimeout(done, waitMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** Attach a track to a <video>/<audio> element; returns a promise of play(). */
export function attach(el, track) {
  el.srcObject = track ? new MediaStream([track]) : null;
  if (!track) return Promise.resolve();
  return el.play().catch((err) => {
    // Audio autoplay can be refused until the user clicks somewhere.
    throw err;
  });
}

/** Mean colour of a video element's current frame (for checks and tests). */
export function meanColour(video, w = 32, h = 18) {
  if (!video || !video.videoWidth) return null;
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const g = c.getContext("2d", { willReadFrequently: true });
  g.drawImage(video, 0, 0, w, h);
  const d = g.getImageData(0, 0, w, h).data;
  let r = 0, gr = 0, b = 0;
  for (let i = 0; i < d.length; i += 4) { r += d[i]; gr += d[i + 1]; b += d[i + 2]; }
  const n = d.length / 4;
  return [Math.round(r / n), Math.round(gr / n), Math.round(b / n)];
}
