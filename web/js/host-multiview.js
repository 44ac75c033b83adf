// The console's multiview: a page of 9 or 16 tiles, each showing one online room through an extra
// video slot of the chair's media link; the relay is told which room each slot shows.
import { S, app, nameOf, send, shortName } from "./host-common.js";
import { focusRow } from "./host-rooms.js";
import { $, el } from "./ui.js";

export const MV_SLOTS = 16; // extra recvonly video m-lines offered; a page shows 9 or 16 of them
export const tiles = []; // {box, video, caption, flags, ph}
let scanTimer = null;
let mvTimer = null;

export function buildTiles() {
  const grid = $("#mv-grid");
  for (let i = 0; i < MV_SLOTS; i++) {
    const video = el("video", { autoplay: true, playsinline: true, muted: true });
    video.muted = true;
    const name = el("span", { class: "name" });
    const flags = el("div", { class: "flags" });
    const ph = el("div", { class: "placeholder" });
    const box = el("div", { class: "tile", dataset: { slot: String(i + 1) } }, video, ph, flags,
      el("div", { class: "caption" }, el("span", { class: "dot" }), name));
    box.addEventListener("click", () => {
      const id = Number(box.dataset.roomId);
      if (id) focusRow(id);
    });
    box.addEventListener("dblclick", () => {
      const id = Number(box.dataset.roomId);
      if (id) send("broadcast_room", { room_id: id });
    });
    tiles.push({ box, video, name, flags, ph });
    grid.append(box);
  }
}

function mvCandidates() {
  return S.order.filter((id) => id !== S.me?.room_id && S.online.has(id));
}

function pageCount() {
  return Math.max(1, Math.ceil(mvCandidates().length / S.pageSize));
}

export function scheduleMultiview() {
  clearTimeout(mvTimer);
  mvTimer = setTimeout(sendMultiview, 300);
}

/** Tell the relay which rooms the tiles of this page show (slot i+1 = room_ids[i]). */
export async function sendMultiview() {
  const all = mvCandidates();
  S.page = Math.min(S.page, pageCount() - 1);
  const ids = all.slice(S.page * S.pageSize, (S.page + 1) * S.pageSize);
  const same = ids.length === S.mvRooms.length && ids.every((id, i) => id === S.mvRooms[i]);
  S.mvRooms = ids;
  renderTiles();
  if (!app.client?.joined || !app.media || app.media.state !== "connected") return;
  if (same && S.mvSent) return;
  const data = await send("multiview", { room_ids: ids });
  S.mvSent = !!data;
}

function setPage(p) {
  const n = pageCount();
  S.page = ((p % n) + n) % n;
  S.mvSent = false;
  sendMultiview();
}

export function renderTiles() {
  const grid = $("#mv-grid");
  const cols = S.pageSize === 16 ? 4 : 3;
  grid.style.setProperty("--cols", cols);
  const candidates = mvCandidates();
  $("#mv-count").textContent = candidates.length;
  $("#mv-page").textContent = `${S.page + 1}/${pageCount()}`;
  tiles.forEach((t, i) => {
    t.box.hidden = i >= S.pageSize;
    const id = S.mvRooms[i];
    t.box.dataset.roomId = id || "";
    if (!id) {
      t.box.className = "tile empty-tile";
      t.video.hidden = true;
      t.name.textContent = "";
      t.flags.textContent = "";
      t.ph.textContent = i === 0 && !candidates.length ? "Chưa có điểm cầu nào trực tuyến" : "";
      t.ph.hidden = false;
      return;
    }
    const q = S.quality[id];
    const live = q && q.connected;
    const onair = S.program?.source_room === id;
    const hand = S.queue.includes(id);
    t.box.className = `tile${onair ? " onair" : ""}${hand ? " hand" : ""}`;
    t.video.hidden = !live;
    t.ph.hidden = !!live;
    t.ph.textContent = live ? "" : "Đang chờ hình…";
    t.name.textContent = shortName(id);
    t.box.title = `${nameOf(id)} — bấm đúp để phát hình cho cả hội nghị`;
    t.box.querySelector(".dot").className = `dot ${live ? "online" : "reconnecting"}`;
    t.flags.textContent = "";
    if (onair) t.flags.append(el("span", { class: "flag onair" }, S.program.mode === "floor" ? "ĐANG NÓI" : "ĐANG PHÁT"));
    if (hand) t.flags.append(el("span", { class: "flag hand" }, `XIN NÓI ${S.queue.indexOf(id) + 1}`));
    if (S.muted.has(id)) t.flags.append(el("span", { class: "flag mute" }, "TẮT TIẾNG"));
  });
}

function toggleScan() {
  clearInterval(scanTimer);
  if ($("#mv-scan").checked) {
    scanTimer = setInterval(() => setPage(S.page + 1), Number($("#mv-interval").value) * 1000);
  }
}

export function stopScan() {
  clearInterval(scanTimer);
}

export function wireMultiview() {
  const size = $("#mv-size");
  size.value = String(S.pageSize);
  size.onchange = () => {
    S.pageSize = Number(size.value);
    localStorage.setItem("confserver.mv.size", size.value);
    S.page = 0;
    S.mvSent = false;
    sendMultiview();
  };
  $("#mv-prev").onclick = () => setPage(S.page - 1);
  $("#mv-next").onclick = () => setPage(S.page + 1);
  $("#mv-scan").onchange = toggleScan;
  $("#mv-interval").onchange = toggleScan;
}
