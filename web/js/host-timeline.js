// The console's memory (issue 12, item 8): after a reload the "Diễn biến" log and the last roll call's summary
// come back from the server's timeline (GET /api/meetings/{id}/timeline), in the words the live log uses.
import { api } from "./meeting.js";
import { H, LOG_MAX, S, logLine, meetingId, nameOf } from "./host-common.js";
import { showSummary } from "./host-panels.js";
import { REC_BY } from "./host-recording.js";
import { $, STATE_LABEL, errorText } from "./ui.js";

/** Why a room left, as the log says it (a plain "left" says nothing more). */
export const LEAVE_WHY = {
  dropped: "bị chủ trì ngắt",
  connection_lost: "mất kết nối",
  gone_during_outage: "mất kết nối khi máy chủ gián đoạn",
  token_revoked: "liên kết phòng bị thu hồi",
  flood: "gửi quá nhiều yêu cầu, bị ngắt",
  join_failed: "vào họp không thành công",
  replaced: "mở ở máy khác",
};

export function leaveText(id, reason) {
  const why = LEAVE_WHY[reason];
  return `${nameOf(id)} rời họp${why ? ` (${why})` : ""}`;
}

export const muteText = (id, muted) => `${muted ? "Tắt tiếng" : "Bật tiếng"} ${nameOf(id)}`;
export const presentLeaveText = (id, allowed) =>
  allowed ? `${nameOf(id)} được trình chiếu tài liệu` : `${nameOf(id)} thôi trình chiếu tài liệu`;

const REC_FAILURE = {
  queue_full: "máy ghi không theo kịp", disk_error: "lỗi ổ đĩa hoặc hết chỗ lưu", start_failed: "không bắt đầu được",
  stop_failed: "máy ghi không trả lời khi dừng", restarted: "máy chủ khởi động lại",
};

/** How a delegate was checked in (confserver/delegates/checkin.py). */
export const DELEGATE_BY = { qr: "quét mã QR", secretary: "thư ký", clerk: "cán bộ điểm cầu" };

/** A speaking time or limit in words ("2 phút 30 giây"). */
const duration = (s) => {
  const m = Math.floor(s / 60), r = Math.round(s % 60);
  return m ? `${m} phút${r ? ` ${r} giây` : ""}` : `${r} giây`;
};

/** A timeline row as [text, kind] of a log line; null for rows the live log does not show either (each room's
 *  roll-call answer, the chair's own console coming and going, the drop that its `leave` row already says). */
export function describe(e) {
  const x = e.data || {};
  const id = e.room_id;
  const chairRoom = id != null && id === S.me?.room_id;
  switch (e.kind) {
    case "join": return chairRoom ? null : [`${nameOf(id)} vào họp`, ""];
    case "leave": return chairRoom ? null : [leaveText(id, x.reason), "warn"];
    case "state": return [`Cuộc họp: ${STATE_LABEL[x.state] || "chuyển trạng thái"}`, ""];
    case "hand_raised": return [`${nameOf(id)} xin phát biểu`, "hand"];
    case "floor_granted": return [`${nameOf(id)} được phát biểu`, "onair"];
    case "floor_present": return [presentLeaveText(id, x.allowed), ""];
    case "floor_released": return [`${nameOf(id)} kết thúc phát biểu`, ""];
    case "floor_revoked": return [`Thu hồi phát biểu của ${nameOf(id)}`, ""];
    case "broadcast": return chairRoom ? ["Về hình chủ trì", ""] : [`Phát hình ${nameOf(id)}`, "onair"];
    case "lecture_mode": return ["Về hình chủ trì", ""];
    case "muted": return [muteText(id, true), ""];
    case "unmuted": return [muteText(id, false), ""];
    case "roll_call_start": return ["Bắt đầu điểm danh", ""];
    case "roll_call_end": return ["Kết thúc điểm danh", ""];
    case "agenda_item": return [x.item_id == null ? "Bỏ chọn nội dung họp" : `Nội dung ${x.position ?? ""}: ${x.title || ""}`.trim(), ""];
    case "agenda_published": return ["Đã phát hành chương trình họp", ""];
    case "delegate_checkin": return [`Đại biểu ${x.name || ""} có mặt (${DELEGATE_BY[x.by] || x.by || ""})`, ""]; // issue 14
    case "speaker_registered": return [`Đại biểu ${x.name || ""} đăng ký phát biểu${x.topic ? `: “${x.topic}”` : ""}`, "hand"];
    case "speaker_withdrawn": return [`Đại biểu ${x.name || ""} rút đăng ký phát biểu`, ""];
    case "speakers_ordered": return ["Sắp xếp lại thứ tự đại biểu phát biểu", ""];
    case "speaker_called": return [`Mời đại biểu ${x.name || ""} phát biểu${x.limit_s ? ` (tối đa ${duration(x.limit_s)})` : ""}`, "onair"];
    case "speaker_limit": return [`Thời gian phát biểu: ${x.limit_s ? duration(x.limit_s) : "không giới hạn"}`, ""];
    case "speaker_ended": return [`Đại biểu ${x.name || ""} kết thúc phát biểu${x.spoke_s != null ? ` (${duration(x.spoke_s)})` : ""}`, ""];
    case "vote_opened": return [`Mở biểu quyết${x.secret ? " (bỏ phiếu kín)" : ""}: “${x.question || ""}”`, "onair"];
    case "vote_closed": return [`Kết thúc biểu quyết “${x.question || ""}”${x.reason === "time" ? " (hết giờ)" : ""}: ${x.yes ?? 0} tán thành, ${x.no ?? 0} không tán thành, ${x.abstain ?? 0} không biểu quyết — ${x.passed ? "được thông qua" : "không được thông qua"}`, ""];
    case "present": {
      const title = x.title || H.docs.find((doc) => doc.id === x.document_id)?.title;
      return [`Trình chiếu ${title ? `“${title}”` : "tài liệu"}${id ? ` (${nameOf(id)})` : ""}`, "onair"];
    }
    case "present_stop": return ["Dừng trình chiếu tài liệu", ""];
    case "recording_started": return [`Bắt đầu ghi hình${REC_BY[x.by] ? ` (${REC_BY[x.by]})` : ""}`, "onair"];
    case "recording_stopped": return [`Dừng ghi hình${REC_BY[x.by] ? ` (${REC_BY[x.by]})` : ""}`, ""];
    case "recording_failed": return [`Ghi hình gián đoạn: ${REC_FAILURE[x.code] || "lỗi máy ghi"}`, "warn"];
    case "relay_failover": return [`Máy chủ truyền hình ${x.reason === "draining" ? "bảo trì" : "gặp sự cố"}: ${x.rooms} phòng chuyển sang máy chủ khác`, "warn"];
    default: return null; // created, invited, documents uploaded, roll-call marks: not the live log's
  }
}

let restored = false;

/** The timeline's rows, read at each snapshot (the rooms lost are rebuilt from them: events missed while the
 *  console was away); the first time also the log and the roll-call summary, lines the live events added meanwhile
 *  kept on top. Null when it could not be read. */
export async function restoreFromTimeline() {
  const first = !restored;
  restored = true;
  const since = Date.now();
  let rows;
  try {
    rows = await api(`/api/meetings/${meetingId}/timeline`);
  } catch (err) {
    if (!first) return null;
    restored = false;
    $("#log").prepend(logLine(`Chưa tải được diễn biến trước đó. ${errorText(err, "tải diễn biến cuộc họp")}`, "warn"));
    return null;
  }
  if (!first) return rows;
  const list = $("#log");
  const live = [...list.children].filter((li) => Number(li.dataset.at) >= since);
  const lines = [];
  let summary = null;
  let shown = null; // the version presented: its page turns are not logged, as live
  for (const e of rows) {
    if (e.kind === "roll_call_end" && e.data?.summary) summary = e.data.summary;
    if (e.kind === "present") {
      if (e.data?.version_id === shown) continue;
      shown = e.data?.version_id;
    } else if (e.kind === "present_stop") shown = null;
    const d = describe(e);
    if (d) lines.push(logLine(d[0], d[1], e.at));
  }
  list.replaceChildren(...lines.slice(-LOG_MAX).reverse());
  list.prepend(...live);
  while (list.children.length > LOG_MAX) list.lastChild.remove();
  if (summary && !$("#rc-summary").textContent) showSummary(summary);
  return rows;
}
