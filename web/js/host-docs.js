// The console's paperless panel: the agenda with its documents, the preview, and presenting a page
// to every room (the synced view); the tabs of the grid panel.
import { PageLoader, agendaTree, docLabel, loadAgenda, pickWidth } from "./docs.js";
import { H, app, meetingId, send } from "./host-common.js";
import { itemTools, loadReceipts, wireAgenda } from "./host-agenda.js";
import { mountDocSearch } from "./doc-search.js"; // search in the documents (issue 12, item 7)
import { $, el, errorText, toast } from "./ui.js";

const hpages = new PageLoader();
let hpageLoad = 0;

export function wireDocs() {
  for (const b of document.querySelectorAll(".ptab")) b.onclick = () => setPanelTab(b.dataset.tab);
  $("#present-chip").onclick = () => setPanelTab("docs");
  $("#hdoc-prev").onclick = () => hturn(-1);
  $("#hdoc-next").onclick = () => hturn(+1);
  $("#hdoc-present").onclick = () => presentView();
  $("#hdoc-stop").onclick = () => send("present_stop");
  $("#h-page-img").onload = () => { $("#h-page-img").dataset.loaded = "1"; };
  wireAgenda();
  // Search in the documents (doc-search.js): a hit opens the preview at its page (nothing is presented).
  mountDocSearch($("#h-doc-search"), { meetingId, idPrefix: "hds", onHit: (h) => {
    const d = H.docs.find((x) => x.id === h.document_id);
    if (d?.current) { H.view = { document_id: d.id, version_id: d.current.id, title: d.title, page: h.page, page_count: d.current.page_count }; showHostPage(); }
  } });
  document.addEventListener("keydown", (e) => {
    if (H.tab !== "docs" || !H.view || e.target.closest("input, select, textarea, dialog")) return;
    if (e.key === "ArrowRight" || e.key === "PageDown") { e.preventDefault(); hturn(+1); }
    else if (e.key === "ArrowLeft" || e.key === "PageUp") { e.preventDefault(); hturn(-1); }
  });
}

function setPanelTab(tab) {
  H.tab = tab;
  for (const b of document.querySelectorAll(".ptab")) {
    b.classList.toggle("active", b.dataset.tab === tab);
    b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  }
  $("#mv-grid").hidden = tab !== "mv";
  $("#mv-toolbar").hidden = tab !== "mv";
  $("#hdocs").hidden = tab !== "docs";
  $("#hreceipts").hidden = tab !== "receipts";
  if (tab === "docs") refreshAgenda(); // uploads from elsewhere (another operator, the API)
  if (tab === "docs" && H.view) showHostPage();
  if (tab === "receipts") loadReceipts();
}

export async function refreshAgenda() {
  try {
    const { items, docs } = await loadAgenda(meetingId);
    H.items = items;
    H.docs = docs;
    H.loaded = true;
  } catch (err) {
    $("#h-agenda-empty").textContent = `Chưa tải được chương trình họp. ${errorText(err, "tải chương trình họp")}`;
    return;
  }
  const sel = $("#up-item");
  const chosen = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "Tài liệu chung"),
    ...H.items.map((i) => el("option", { value: String(i.id) }, `${i.position}. ${i.title}`)));
  sel.value = H.items.some((i) => String(i.id) === chosen) ? chosen : "";
  renderDocs();
}

export async function refreshSync() {
  if (!app.client?.joined) return;
  let s;
  try { s = await app.client.request("sync_state"); } catch (e) { return; }
  if (typeof s.sync_seq === "number") {
    if (s.sync_seq < H.syncSeq) return;
    H.syncSeq = s.sync_seq;
  }
  H.currentItem = s.agenda_item?.item || null;
  H.itemAt = s.agenda_item?.at || null; // the speaker clock counts the item's planned minutes from it
  H.present = s.present || null;
  followPresent();
  renderDocs();
}

export function freshSync(ev) {
  if (typeof ev.sync_seq !== "number") return true;
  if (ev.sync_seq < H.syncSeq) return false;
  H.syncSeq = ev.sync_seq;
  return true;
}

/** The preview follows the presented page when it shows that document (or nothing yet),
 *  unless our own page turns are still on their way. */
export function followPresent() {
  const p = H.present;
  if (!p || H.inflight > 0) return;
  if (H.view && H.view.version_id !== p.version_id) return;
  H.view = { document_id: p.document_id, version_id: p.version_id, title: p.title, page: p.page, page_count: p.page_count };
  showHostPage();
}

const presentingView = () => !!(H.present && H.view && H.present.version_id === H.view.version_id);

function openHostDoc(d) {
  const v = d.current;
  const same = H.present && H.present.version_id === v.id;
  H.view = { document_id: d.id, version_id: v.id, title: d.title, page: same ? H.present.page : 1, page_count: v.page_count };
  showHostPage();
}

async function presentPage(page) {
  const v = H.view;
  H.inflight += 1;
  let ok = false;
  try {
    await app.client.request("present", { version_id: v.version_id, page });
    ok = true;
  } catch (err) {
    toast(errorText(err, "trình chiếu trang này"), "error");
  } finally {
    H.inflight -= 1;
  }
  if (H.inflight) return;
  // The server answers "ok" before its "present" event reaches us: following H.present now would put the
  // preview back on the previous page for a moment, and a quick second "Trang sau" would present that page
  // again. Ask for the synced view's state instead (answered after our page was stored); after a refusal,
  // go back to what is presented.
  if (ok) refreshSync();
  else { followPresent(); renderDocs(); }
}

function presentView() {
  if (!H.view) return;
  presentPage(H.view.page);
}

/** Turn the preview's page; while it is the presented document, every room turns with it. */
function hturn(delta) {
  const v = H.view;
  if (!v) return;
  const page = v.page + delta;
  if (page < 1 || page > v.page_count) return;
  const live = presentingView();
  v.page = page;
  showHostPage();
  if (live) presentPage(page);
}

async function showHostPage() {
  renderViewerBar();
  const v = H.view;
  if (!v || H.tab !== "docs") return;
  const img = $("#h-page-img");
  const wrap = $("#h-page-wrap");
  const width = pickWidth(wrap.clientWidth || 480);
  const mine = ++hpageLoad;
  try {
    const url = await hpages.load(v.version_id, v.page, width);
    if (mine !== hpageLoad) return;
    if (img.src !== url) { img.dataset.loaded = ""; img.src = url; wrap.scrollTop = 0; }
    img.dataset.page = String(v.page);
    img.hidden = false;
    $("#h-placeholder").hidden = true;
    hpages.prefetch(v.version_id, [v.page + 1, v.page - 1], v.page_count, width);
  } catch (err) {
    if (mine !== hpageLoad) return;
    img.hidden = true;
    $("#h-placeholder").textContent = `Không tải được trang ${v.page}: ${errorText(err, "tải trang tài liệu")}`;
    $("#h-placeholder").hidden = false;
  }
}

function renderViewerBar() {
  const v = H.view;
  const live = presentingView();
  $("#hdoc-title").textContent = v ? v.title : "Chọn tài liệu để xem trước, trình chiếu";
  $("#hdoc-title").title = v ? v.title : "";
  $("#hdoc-page").textContent = v ? v.page : "–";
  $("#hdoc-count").textContent = v ? v.page_count : "–";
  $("#hdoc-prev").disabled = !v || v.page <= 1;
  $("#hdoc-next").disabled = !v || v.page >= v.page_count;
  $("#hdoc-prev").title = $("#hdoc-next").title = live ? "Lật trang cho mọi phòng" : "Chỉ xem trước trên bảng điều khiển";
  const present = $("#hdoc-present");
  const onPage = live && H.present.page === v.page;
  present.disabled = !v || onPage;
  present.textContent = live ? (onPage ? "Đang trình chiếu" : "Trình chiếu trang này") : "Trình chiếu";
  $("#hdoc-stop").hidden = !H.present;
  const badge = $("#hdoc-badge");
  badge.hidden = !H.present;
  if (H.present) {
    badge.textContent = live ? `Mọi phòng đang xem trang ${H.present.page}` : `Đang trình chiếu “${H.present.title}” trang ${H.present.page}`;
    badge.className = `badge ${live ? "state-live" : "warn"}`;
  }
  const chip = $("#present-chip");
  chip.hidden = !H.present;
  if (H.present) {
    chip.textContent = `▶ ${H.present.title} · tr. ${H.present.page}/${H.present.page_count}`;
    chip.title = "Đang trình chiếu — bấm để mở bảng tài liệu";
  }
}

export function renderDocs() {
  const tree = agendaTree(H.items, H.docs);
  $("#docs-count").textContent = H.docs.length;
  const list = $("#h-agenda");
  const openId = H.view?.document_id;
  list.replaceChildren(...tree.map(({ item, docs }) => {
    const current = item && H.currentItem?.id === item.id;
    return el("li", { class: `agenda-item${current ? " current" : ""}${item ? "" : " loose"}`, dataset: { itemId: item ? String(item.id) : "" } },
      el("div", { class: "item-head" },
        el("span", { class: "pos" }, item ? item.position : "•"),
        el("span", { class: "item-title" }, item ? item.title : "Tài liệu chung"),
        item ? (current
          ? el("button", { class: "btn btn-sm item-go active", title: "Bỏ chọn nội dung đang thảo luận", onclick: () => send("agenda_item", { item_id: null }) }, "Đang thảo luận")
          : el("button", { class: "btn btn-sm item-go", title: "Chuyển cuộc họp sang nội dung này (mọi phòng thấy)", onclick: () => send("agenda_item", { item_id: item.id }) }, "Chuyển tới"))
          : null),
      item ? itemTools(item) : null,
      docs.length ? el("ul", { class: "doc-list" }, docs.map((d) => el("li", {},
        el("button", {
          class: `doc-open${d.id === openId ? " open" : ""}`,
          dataset: { documentId: String(d.id), versionId: String(d.current.id) },
          title: `Mở “${d.title}” để xem trước, trình chiếu`,
          onclick: () => openHostDoc(d),
        }, ...docLabel(d), H.present?.document_id === d.id ? el("span", { class: "tag onair" }, "Trình chiếu") : null)))) : null);
  }));
  const empty = $("#h-agenda-empty");
  empty.hidden = tree.length > 0;
  if (H.loaded && !tree.length) empty.textContent = "Chưa có nội dung họp, tài liệu.";
  renderViewerBar();
}
