// The console's speaker clock (issue 12, item 10), in the speaker box: how long the room with the floor has
// spoken, the chair's limit (set here, `set_floor_limit`), and the current agenda item's planned minutes.
import { H, S, send } from "./host-common.js";
import { mountSpeakerClock } from "./speaker-clock.js";
import { $ } from "./ui.js";

function read() {
  const p = S.program || {};
  const it = H.currentItem && H.items.find((i) => i.id === H.currentItem.id);
  return {
    since: p.floor_room ? p.floor_since ?? null : null,
    limit: p.floor_limit_s ?? null,
    item: it ? { position: it.position, title: it.title, planned_minutes: it.planned_minutes, at: H.itemAt } : null,
  };
}

export function wireConsoleClock() {
  mountSpeakerClock($("#speaker-clock"), {
    read,
    onLimit: (limit) => send("set_floor_limit", { limit_s: limit },
      limit ? "Đã đặt giới hạn thời gian phát biểu" : "Đã bỏ giới hạn thời gian phát biểu"),
  });
}
