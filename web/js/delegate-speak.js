// Speaker registration on the delegate's tablet (issue 14, item 4): register with a short topic on the current
// agenda item or any later one (the chair keeps a list per item), see one's place in each item's list, the speaker now
// and their clock (js/speaker-clock.js), withdraw.
import { mountSpeakerClock, noteServerTime } from "./speaker-clock.js";
import { el, toast } from "./ui.js";

const S = { list: { current: null, waiting: [], done: [], current_item_id: null }, items: [], busy: false };
let session, root, clock;

async function load() {
  try {
    const mine = await session.api(`/api/votes/meetings/${session.meetingId}/mine`);
    noteServerTime(mine.server_time);
    S.list = mine.speakers;
  } catch (e) { toast(e.message, "error"); }
  render();
}

/** The agenda (as the papers show it; none before it is published: then the current item only). */
async function loadItems() {
  try {
    S.items = (await session.api(`/api/delegates/meetings/${session.meetingId}/papers`)).items || [];
  } catch (e) { S.items = []; }
  render();
}

/** The items one may register on: the current one and those after it (all of them while none is current). */
function upcoming() {
  const now = S.items.find((i) => i.id === S.list.current_item_id);
  return now ? S.items.filter((i) => i.position > now.position || (i.position === now.position && i.id >= now.id)) : S.items;
}

const itemLabel = (item) => (item ? `Nội dung ${item.position}: ${item.title}` : "Không gắn nội dung");

function who(s) {
  const d = s.delegate;
  return [d.name, d.position, d.seat === "room" ? d.room_name : null].filter(Boolean).join(" · ");
}

async function register(ev) {
  ev.preventDefault();
  const input = root.querySelector("#speak-topic");
  if (S.busy || !input.value.trim()) return;
  S.busy = true;
  const body = { topic: input.value.trim() };
  const pick = root.querySelector("#speak-item")?.value;
  if (pick) body.agenda_item_id = Number(pick);
  try {
    await session.api(`/api/votes/meetings/${session.meetingId}/speakers`, { method: "POST", body });
    toast("Đã đăng ký phát biểu.", "ok");
    const now = root.querySelector("#speak-topic"); // a render meanwhile replaced the form
    if (now) now.value = "";
  } catch (e) { toast(e.message, "error"); }
  S.busy = false;
  load();
}

async function withdraw(id) {
  try {
    await session.api(`/api/votes/meetings/${session.meetingId}/speakers/${id}`, { method: "DELETE" });
  } catch (e) { toast(e.message, "error"); }
  load();
}

function render() {
  // A render (each list change) must not lose what the delegate is typing or the item they picked.
  const typed = root.querySelector("#speak-topic"), picked = root.querySelector("#speak-item")?.value;
  const hadFocus = typed && document.activeElement === typed;
  const me = session.delegate?.id;
  const { current, waiting } = S.list;
  const mineWaiting = waiting.filter((s) => s.delegate.id === me);
  const body = el("div", { class: "body" });
  if (current) {
    const mine = current.delegate.id === me;
    body.append(el("div", { class: `speak-now${mine ? " mine" : ""}`, id: "speak-now" },
      el("div", { class: "muted" }, mine ? "Mời bạn phát biểu" : "Đang phát biểu"),
      el("div", { class: "speak-who" }, who(current)),
      el("div", { class: "muted" }, current.topic)));
    const box = el("div", { id: "speak-clock" });
    body.append(box);
    clock?.stop();
    clock = mountSpeakerClock(box, { read: () => ({ since: S.list.current?.called_at ?? null, limit: S.list.current?.limit_s ?? null, item: null }) });
  } else { clock?.stop(); clock = null; }
  const sameItem = (a, b) => (a.agenda_item?.id ?? null) === (b.agenda_item?.id ?? null);
  if (mineWaiting.length) {
    // Each of my registrations with my place in that item's list.
    body.append(el("div", { class: "speak-mine", id: "speak-mine" }, "Bạn đã đăng ký phát biểu:",
      el("ul", { class: "speak-mine-list" }, ...mineWaiting.map((m) => {
        const list = waiting.filter((s) => sameItem(s, m));
        return el("li", { "data-item": m.agenda_item ? String(m.agenda_item.id) : "" },
          `${itemLabel(m.agenda_item)} (thứ tự ${list.indexOf(m) + 1}/${list.length}): `, el("em", {}, m.topic), " ",
          el("button", { class: "btn btn-sm", onclick: () => withdraw(m.id) }, "Rút đăng ký"));
      }))));
  }
  if (!session.delegate?.checked_in) {
    body.append(el("p", { class: "muted" }, "Bạn cần điểm danh trước khi đăng ký phát biểu."));
  } else {
    const taken = new Set(mineWaiting.map((m) => m.agenda_item?.id ?? null));
    const cur = S.list.current_item_id ?? null;
    const options = [];
    if (S.items.length && cur === null && !taken.has(null)) options.push(["", "Không gắn nội dung"]);
    for (const i of upcoming()) if (!taken.has(i.id)) options.push([String(i.id), `${itemLabel(i)}${i.id === cur ? " (đang thảo luận)" : ""}`]);
    if (options.length || (!S.items.length && !taken.has(cur))) {
      // Without the agenda (not published yet) the registration is on the current item.
      const select = options.length ? el("select", { id: "speak-item", "aria-label": "Nội dung đăng ký phát biểu" },
        ...options.map(([value, label]) => el("option", { value }, label))) : null;
      body.append(el("form", { class: "speak-form", onsubmit: register },
        select ? el("label", { for: "speak-item" }, "Đăng ký cho nội dung") : null, select,
        el("label", { for: "speak-topic" }, "Nội dung muốn phát biểu (ngắn gọn)"),
        el("input", { id: "speak-topic", maxlength: "200", required: "", autocomplete: "off" }),
        el("button", { class: "btn btn-primary", id: "speak-register", type: "submit" }, "Đăng ký phát biểu")));
    } else {
      body.append(el("p", { class: "muted" }, "Bạn đã đăng ký phát biểu cho mọi nội dung còn lại."));
    }
  }
  const now = waiting.filter((s) => (s.agenda_item?.id ?? null) === (S.list.current_item_id ?? null));
  if (now.length) {
    body.append(el("div", { class: "muted" }, "Danh sách chờ (nội dung đang thảo luận)"),
      el("ol", { class: "speak-queue" }, ...now.map((s) => el("li", { class: s.delegate.id === me ? "mine" : "" }, who(s)))));
  }
  root.replaceChildren(el("header", {}, "Đăng ký phát biểu"), body);
  const input = root.querySelector("#speak-topic"), select = root.querySelector("#speak-item");
  if (input && typed) { input.value = typed.value; if (hadFocus) input.focus(); }
  if (select && picked != null && [...select.options].some((o) => o.value === picked)) select.value = picked;
}

function init(s) {
  session = s;
  root = document.getElementById("speak");
  if (!root) return;
  root.classList.add("panel", "speak-panel");
  session.on("speakers", (ev) => {
    const was = S.list.current?.id;
    S.list = { current: ev.current, waiting: ev.waiting, done: ev.done, current_item_id: ev.current_item_id };
    if (ev.current && ev.current.id !== was && ev.current.delegate.id === session.delegate?.id) toast("Mời bạn phát biểu.", "ok");
    render();
  });
  session.on("delegate_checkin", (ev) => { if (ev.delegate_id === session.delegate?.id) { session.delegate.checked_in = true; render(); } });
  session.on("agenda_item", (ev) => { S.list.current_item_id = ev.item?.id ?? null; render(); });
  session.on("agenda_published", loadItems);
  window.addEventListener("delegate:speakers", (e) => { if (e.detail) { S.list = e.detail; render(); } });
  load();
  loadItems();
}

if (window.delegateSession) init(window.delegateSession);
else window.addEventListener("delegate:ready", (e) => init(e.detail), { once: true });
