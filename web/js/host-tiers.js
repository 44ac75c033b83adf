// Issue 15: the console's room table shows what of the program's video each room is sent (its tier: every frame,
// half, a quarter, or none) and why, and lets the chair pin a room to a tier. Reads the "stats" message's rooms
// (tier, tier_reason, tier_pinned); sends pin_tier.
import { S, send } from "./host-common.js";

const LABEL = { full: "Hình đầy đủ", t0t1: "Hình 1/2", t0: "Hình 1/4", low: "Hình nhỏ", audio: "Chỉ âm thanh" };
const CLASS = { full: "", t0t1: "warn", t0: "warn", low: "warn", audio: "bad" };
const WHY = {
  start: "", recovered: "đường truyền đã tốt trở lại", pinned: "chủ trì chọn",
  nack: "phòng phải xin gửi lại nhiều gói tin", loss: "mất gói tin nhiều", remb: "băng thông phòng ước lượng giảm",
};
const CHOICES = [["", "Tự động"], ["full", LABEL.full], ["t0t1", LABEL.t0t1], ["t0", LABEL.t0], ["low", LABEL.low], ["audio", LABEL.audio]];

function cell(row) {
  let box = row.querySelector(".tier-cell");
  if (!box) {
    box = document.createElement("span");
    box.className = "tier-cell";
    const badge = document.createElement("span");
    badge.className = "badge tier";
    const pick = document.createElement("select");
    pick.className = "tier-pin";
    pick.title = "Chọn mức hình gửi tới phòng (Tự động: theo đường truyền)";
    for (const [value, text] of CHOICES) pick.append(new Option(text, value));
    pick.addEventListener("change", () => {
      const id = Number(row.dataset.roomId);
      send("pin_tier", { room_id: id, tier: pick.value || null }, pick.value ? `Đã chọn: ${LABEL[pick.value]}` : "Mức hình: tự động");
    });
    box.append(badge, pick);
    row.querySelector("td.name")?.append(box);
  }
  return box;
}

export function renderTiers(rooms) {
  for (const row of document.querySelectorAll("tr[data-room-id]")) {
    const q = rooms[row.dataset.roomId];
    if (!q || !q.tier || Number(row.dataset.roomId) === S.me?.room_id) {
      row.querySelector(".tier-cell")?.remove();
      continue;
    }
    const box = cell(row);
    const [badge, pick] = box.children;
    badge.textContent = LABEL[q.tier] || q.tier;
    badge.className = `badge tier ${CLASS[q.tier] || ""}`;
    const why = WHY[q.tier_reason] || q.tier_reason || "";
    badge.title = q.tier === "full" ? "Phòng nhận đủ hình" : `Phòng nhận ${LABEL[q.tier].toLowerCase()}${why ? ` vì ${why}` : ""}`;
    if (document.activeElement !== pick) pick.value = q.tier_pinned || "";
  }
}
