// The chair's own media: camera and microphone, the link to the relay, and where incoming tracks go.
import { MediaLink, attach, fillDeviceSelect } from "./media.js";
import { S, app } from "./host-common.js";
import { MV_SLOTS, sendMultiview, tiles } from "./host-multiview.js";
import { $ } from "./ui.js";

let mediaReady = null;

export async function startMedia(iceServers, lowLayer = false) {
  mediaReady = mediaReady || (async () => {
    await app.local.open();
    showLocal();
    app.media = new MediaLink({
      send: (type, fields, opts) => app.client.request(type, fields, opts),
      extraVideo: MV_SLOTS,
      onSlot: gotTrack,
      onState: (s) => {
        const [t, k] = { connecting: ["Đang kết nối", "warn"], connected: ["Đang phát", "ok"], retrying: ["Kết nối lại…", "bad"], closed: ["Đã dừng", ""] }[s] || [s, ""];
        const b = $("#media-badge");
        b.textContent = t;
        b.className = `badge ${k}`;
      },
      // A new media peer on the relay has no multiview routes yet.
      onConnected: () => { S.mvSent = false; sendMultiview(); },
    });
    app.media.setTracks(app.local.videoTrack, app.local.audioTrack);
  })();
  await mediaReady;
  // The chair publishes the program (lecture) and what the floor room watches: it sends the shared low layer.
  app.media.lowLayer = lowLayer;
  app.media.setLowSending(lowLayer);
  await app.media.start(iceServers);
}

async function showLocal() {
  attach($("#self-view"), app.local.videoTrack).catch(() => {});
  attach($("#program-local"), app.local.videoTrack).catch(() => {});
  $("#self-none").hidden = !!app.local.videoTrack;
  try {
    const { cameras, mics } = await app.local.devices();
    fillDeviceSelect($("#camera-select"), cameras, app.local.videoTrack?.getSettings().deviceId, "Không có camera");
    fillDeviceSelect($("#mic-select"), mics, app.local.audioTrack?.getSettings().deviceId, "Không có micro");
  } catch (e) { /* no enumerateDevices */ }
}

async function changeDevice(choice) {
  await app.local.open(choice);
  app.local.setMicEnabled(S.micOn);
  await showLocal();
  app.media?.setTracks(app.local.videoTrack, app.local.audioTrack);
}

function gotTrack(kind, index, track) {
  if (kind === "video" && index === 0) {
    attach($("#program-remote"), track).catch(() => {});
  } else if (kind === "video") {
    const t = tiles[index - 1];
    if (t) attach(t.video, track).catch(() => {});
  } else if (kind === "audio") {
    const a = index === 0 ? $("#audio-chair") : $("#audio-floor");
    attach(a, track).catch(() => {
      const b = $("#btn-sound");
      b.hidden = false;
      b.onclick = () => { $("#audio-chair").play().catch(() => {}); $("#audio-floor").play().catch(() => {}); b.hidden = true; };
    });
  }
}

export function wireMedia() {
  $("#btn-mic").onclick = () => {
    S.micOn = !S.micOn;
    app.local.setMicEnabled(S.micOn);
    $("#btn-mic").textContent = S.micOn ? "Tắt micro chủ trì" : "Bật micro chủ trì";
    $("#btn-mic").className = `btn btn-sm ${S.micOn ? "" : "btn-danger"}`;
  };
  $("#camera-select").onchange = () => changeDevice({ camera: $("#camera-select").value });
  $("#mic-select").onchange = () => changeDevice({ mic: $("#mic-select").value });
}
