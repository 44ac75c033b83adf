// The room page's paperless part: the agenda and its documents, the page viewer, and the synced view
// (follow the presenter, read privately, or present when the chair allowed it).
import { api } from "./meeting.js";
import { mountDocSearch } from "./doc-search.js";
import { PageLoader, agendaTree, docLabel, loadAgenda, pickWidth } from "./docs.js";
import { D, app, mayPresent, meetingId, presentingMine, token } from "./room-common.js";
import { PageZoom, wireTouch } from "./room-gestures.js";
import { $, el, errorText, fmtTime, toast } from "./ui.js";

const pages = new PageLoader({ token });
let pageLoad = 0;
let zoom = null; // PageZoom of the viewer's page image
let zoomTimer = null;
let followHint = 0;

// ---- paperless: agenda, documents, synced page view -------------------------------------

export function wireDocs() {
  // A tab the delegate picks stays picked: a presentation no longer pulls the page to the documents (issue 12).
  // (The program picture is not a button: a tap meant to scroll on a tablet switched the tab.)
  $("#tab-video").onclick = () => { D.tabChosen = true; setTab("video"); };
  $("#tab-docs").onclick = () => { D.tabChosen = true; setTab("docs"); };
  $("#doc-prev").onclick = () => turn(-1);
  $("#doc-next").onclick = () => turn(+1);
  zoom = new PageZoom({ wrap: $("#page-wrap"), img: $("#doc-page-img"), onChange: zoomed });
  $("#doc-zoom-in").onclick = () => { fitWidth(); zoom.step(+1); };
  $("#doc-zoom-out").onclick = () => zoom.step(-1);
  wireTouch($("#page-wrap"), zoom, swipe);
  $("#btn-private").onclick = () => leaveSync();
  $("#btn-present").onclick = () => { if (D.view) presentPage(D.view.page); };
  $("#btn-present-stop").onclick = () => stopPresenting();
  $("#btn-follow").onclick = () => followPresenter();
  const fit = localStorage.getItem("confserver.docs.fit") === "page";
  $("#viewer").classList.toggle("fit-page", fit);
  $("#doc-fit").textContent = fit ? "Vừa chiều rộng" : "Cả trang";
  $("#doc-fit").onclick = () => {
    zoom.set(1);
    setFitPage(!$("#viewer").classList.contains("fit-page"));
  };
  $("#doc-page-img").onload = () => { $("#doc-page-img").dataset.loaded = "1"; };
  mountDocSearch($("#doc-search"), { meetingId, token, onHit: openHit });
  document.addEventListener("keydown", (e) => {
    if (D.tab !== "docs" || !D.view || e.target.closest("input, select, textarea")) return;
    if (e.key === "ArrowRight" || e.key === "PageDown") turn(+1);
    else if (e.key === "ArrowLeft" || e.key === "PageUp") turn(-1);
    else if (e.key === "+" || e.key === "=") { fitWidth(); zoom.step(+1); }
    else if (e.key === "-") zoom.step(-1);
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (D.view) showPage(); }, 300);
  });
}

function setFitPage(on) {
  $("#viewer").classList.toggle("fit-page", on);
  localStorage.setItem("confserver.docs.fit", on ? "page" : "width");
  $("#doc-fit").textContent = on ? "Vừa chiều rộng" : "Cả trang";
}

/** Zooming starts from the page fitted to the width. */
function fitWidth() {
  if ($("#viewer").classList.contains("fit-page")) setFitPage(false);
}

function zoomed(z) {
  if (z > 1) fitWidth(); // two fingers on a whole-page view too
  $("#doc-zoom").textContent = `${Math.round(z * 100)} %`;
  $("#doc-zoom-out").disabled = z <= 1;
  $("#doc-zoom-in").disabled = z >= 4;
  // A sharper image for the new size, once the fingers or the button presses stop.
  clearTimeout(zoomTimer);
  zoomTimer = setTimeout(() => { if (D.view) showPage(); }, 400);
}

/** A swipe turns the page, except while the room follows someone else's presentation. */
function swipe(delta) {
  if (D.following && D.present && !presentingMine()) {
    if (Date.now() - followHint > 8000) {
      followHint = Date.now();
      toast("Đang theo người trình bày. Bấm “Xem riêng” để tự lật trang.", "info", 5000);
    }
    return;
  }
  turn(delta);
}

function setTab(tab) {
  D.tab = tab;
  const docs = tab === "docs";
  $("#docs").hidden = !docs;
  $(".room-stage").classList.toggle("docs-mode", docs);
  $("#tab-video").classList.toggle("active", !docs);
  $("#tab-docs").classList.toggle("active", docs);
  $("#tab-video").setAttribute("aria-selected", String(!docs));
  $("#tab-docs").setAttribute("aria-selected", String(docs));
  if (docs) $("#docs-dot").hidden = true;
  if (docs && Date.now() - D.loadedAt > 30000) refreshAgenda();
  if (docs && D.view && D.shown !== `${D.view.version_id}/${D.view.page}`) showPage();
}

export async function refreshAgenda() {
  try {
    const { items, docs } = await loadAgenda(meetingId, token);
    D.items = items;
    D.docs = docs;
    D.loaded = true;
    D.loadedAt = Date.now();
  } catch (err) {
    $("#agenda-empty").textContent = err.code === "agenda_not_published"
      ? "Chương trình họp chưa được phát hành." : `Chưa tải được chương trình họp. ${errorText(err, "tải chương trình họp")}`;
    $("#agenda-empty").hidden = false;
    return;
  }
  renderAgenda();
  loadPublication();
}

async function loadPublication() {
  try {
    const pubs = await api(`/api/agenda/meetings/${meetingId}/publications`, { token });
    const last = pubs.at(-1);
    $("#agenda-pub").textContent = last ? `Phát hành ${fmtTime(last.published_at)}` : "";
  } catch (e) { /* a nicety */ }
}

export async function refreshSync() {
  if (!app.client?.joined) return;
  try {
    applySync(await app.client.request("sync_state"));
  } catch (e) { /* the events keep us right meanwhile */ }
}

/** A sync_state reply: where the meeting is (ignored when events already told us something newer). */
function applySync(s) {
  if (typeof s.sync_seq === "number") {
    if (s.sync_seq < D.syncSeq) return;
    D.syncSeq = s.sync_seq;
  }
  D.currentItem = s.agenda_item?.item || null;
  D.itemAt = s.agenda_item?.at || null;
  const had = D.present;
  D.present = s.present || null;
  if (D.following && D.present) follow(D.present, !had || had.version_id !== D.present.version_id);
  renderAgenda();
  renderViewer();
}

function fresh(ev) {
  if (typeof ev.sync_seq !== "number") return true;
  if (ev.sync_seq < D.syncSeq) return false;
  D.syncSeq = ev.sync_seq;
  return true;
}

export function onAgendaItem(ev) {
  if (!fresh(ev)) return;
  D.currentItem = ev.item;
  D.itemAt = ev.at || null;
  if (ev.item && !D.items.some((i) => i.id === ev.item.id)) refreshAgenda();
  if (ev.item) toast(`Chuyển sang nội dung ${ev.item.position}: ${ev.item.title}`, "info", 6000);
  renderAgenda();
  const cur = $("#agenda-list li.current");
  if (cur) cur.scrollIntoView({ block: "nearest" });
}

export function onPresent(ev) {
  if (!fresh(ev)) return;
  const before = D.present;
  D.present = ev;
  if (!D.docs.some((d) => d.id === ev.document_id)) refreshAgenda();
  if (D.presenting && presentingMine()) renderViewer(); // our own page turns are still on their way
  else if (D.following) follow(ev, !before || before.version_id !== ev.version_id);
  else renderViewer();
  if (D.tab !== "docs" && !D.following) $("#docs-dot").hidden = false;
}

export function onPresentStop(ev) {
  if (!fresh(ev)) return;
  D.present = null;
  renderViewer();
}

/** Show what the presenter shows. A new document brings the documents tab forward only if the delegate has
 *  not picked a tab; otherwise the tab gets its dot and a short note (issue 12, item 1). */
function follow(p, newDocument) {
  D.view = { document_id: p.document_id, version_id: p.version_id, title: p.title, page: p.page, page_count: p.page_count };
  if (newDocument && D.tab !== "docs") {
    if (!D.tabChosen) setTab("docs");
    else {
      $("#docs-dot").hidden = false;
      toast(`Đang trình chiếu “${p.title}”. Bấm “Tài liệu” để xem.`, "info", 6000);
    }
  }
  showPage();
}

function leaveSync(quiet = false) {
  if (!D.following) return;
  D.following = false;
  if (!quiet) toast("Đang xem riêng. Bấm “Theo người trình bày” để quay lại trang đang trình chiếu.", "info", 6000);
  renderViewer();
}

async function followPresenter() {
  D.following = true;
  await refreshSync(); // the freshest position; the last event otherwise
  if (D.present) follow(D.present, true);
  else toast("Hiện không có tài liệu nào đang được trình chiếu.", "info");
  renderViewer();
}

/** The room opens a document itself: that leaves the synced view while someone presents ("Xem riêng":
 *  what the other rooms see does not change). */
function openDocument(d, page = 1) {
  if (D.present && D.following) leaveSync();
  const v = d.current;
  D.view = { document_id: d.id, version_id: v.id, title: d.title, page: Math.min(page, v.page_count), page_count: v.page_count };
  D.tabChosen = true;
  setTab("docs");
  showPage();
}

/** A search hit: open its document at its page (issue 12, item 7). */
async function openHit(h) {
  let d = D.docs.find((x) => x.id === h.document_id);
  if (!d?.current || d.current.id !== h.version_id) {
    await refreshAgenda(); // a document or version newer than the agenda on screen
    d = D.docs.find((x) => x.id === h.document_id);
  }
  if (!d?.current) {
    toast("Tài liệu này hiện không mở được; hãy tải lại chương trình họp.", "error");
    return;
  }
  openDocument(d, h.page);
  // One column (tablet, phone): the viewer is above the agenda; bring it on screen.
  if (window.matchMedia("(max-width: 900px)").matches) $("#viewer").scrollIntoView({ block: "start" });
}

function turn(delta) {
  if (!D.view) return;
  const page = D.view.page + delta;
  if (page < 1 || page > D.view.page_count) return;
  // Presenting this document ourselves: every room turns with us.
  const live = presentingMine() && D.following && D.present.version_id === D.view.version_id;
  if (D.present && D.following && !live) leaveSync();
  D.view.page = page;
  showPage();
  if (live) presentPage(page);
}

/** Show the open page to everyone (the room holds the floor and the chair allowed it). One request
 *  at a time, the latest page wins: fast page turns neither flood the server nor pull the view back. */
async function presentPage(page) {
  const v = D.view;
  if (!v || !app.client?.joined) return;
  D.wantPage = { version_id: v.version_id, page };
  if (D.presenting) return;
  D.presenting = true;
  try {
    while (D.wantPage) {
      const want = D.wantPage;
      D.wantPage = null;
      await app.client.request("present", want);
      D.following = true;
    }
  } catch (err) {
    D.wantPage = null;
    toast(errorText(err, "trình chiếu trang này"), "error");
  } finally {
    D.presenting = false;
  }
  if (D.following && D.present) follow(D.present, false);
  else renderViewer();
}

async function stopPresenting() {
  try {
    await app.client.request("present_stop");
  } catch (err) {
    toast(errorText(err, "dừng trình chiếu"), "error");
  }
}

async function showPage() {
  renderViewer();
  const v = D.view;
  if (!v) return;
  const img = $("#doc-page-img");
  const wrap = $("#page-wrap");
  const width = pickWidth((wrap.clientWidth || 960) * (zoom?.zoom || 1));
  const key = `${v.version_id}/${v.page}`;
  const mine = ++pageLoad;
  const ph = $("#doc-placeholder");
  if (D.shown !== key) {
    ph.textContent = "Đang tải trang…";
    ph.hidden = false;
    ph.classList.add("loading");
  }
  try {
    const url = await pages.load(v.version_id, v.page, width);
    if (mine !== pageLoad) return; // a newer page was asked for meanwhile
    if (img.src !== url) {
      img.dataset.loaded = "";
      img.src = url;
    }
    img.dataset.page = String(v.page);
    img.dataset.versionId = String(v.version_id);
    img.alt = `${v.title} — trang ${v.page}`;
    img.hidden = false;
    ph.hidden = true;
    if (D.shown !== key) wrap.scrollTop = 0;
    D.shown = key;
    pages.prefetch(v.version_id, [v.page + 1, v.page - 1], v.page_count, width);
  } catch (err) {
    if (mine !== pageLoad) return;
    img.hidden = true;
    D.shown = null;
    ph.classList.remove("loading");
    ph.textContent = `Không tải được trang ${v.page}: ${errorText(err, "tải trang")}`;
    ph.hidden = false;
  }
}

function renderAgenda() {
  const list = $("#agenda-list");
  const tree = agendaTree(D.items, D.docs);
  const openId = D.view?.document_id;
  const presentedId = D.present?.document_id;
  list.replaceChildren(...tree.map(({ item, docs }) => el("li", {
    class: `agenda-item${item && D.currentItem?.id === item.id ? " current" : ""}${item ? "" : " loose"}`,
    dataset: { itemId: item ? String(item.id) : "" },
  },
  el("div", { class: "item-head" },
    el("span", { class: "pos" }, item ? item.position : "•"),
    el("span", { class: "item-title" }, item ? item.title : "Tài liệu chung"),
    item && D.currentItem?.id === item.id ? el("span", { class: "tag onair" }, "Đang thảo luận") : null),
  item?.presenter_unit_name ? el("div", { class: "item-sub muted" }, `Trình bày: ${item.presenter_unit_name}`) : null,
  docs.length ? el("ul", { class: "doc-list" }, docs.map((d) => el("li", {},
    el("button", {
      class: `doc-open${d.id === openId ? " open" : ""}`,
      dataset: { documentId: String(d.id), versionId: String(d.current.id) },
      title: `Mở “${d.title}”`,
      onclick: () => openDocument(d),
    }, ...docLabel(d), d.id === presentedId ? el("span", { class: "tag present" }, "Đang trình chiếu") : null)))) : null)));
  const empty = $("#agenda-empty");
  empty.hidden = tree.length > 0;
  if (!tree.length && D.loaded) empty.textContent = "Cuộc họp chưa có chương trình, tài liệu.";
}

export function renderViewer() {
  const v = D.view;
  const p = D.present;
  const badge = $("#sync-badge");
  let text, cls;
  if (D.following && p && presentingMine()) { text = "Phòng của bạn đang trình chiếu"; cls = "ok"; }
  else if (D.following && p) { text = "Đang theo người trình bày"; cls = "ok"; }
  else if (D.following) { text = v ? "Chưa trình chiếu" : "Chờ trình chiếu"; cls = ""; }
  else if (p) { text = `Đang xem riêng · trình chiếu ở trang ${p.page}${v && p.version_id !== v.version_id ? ` “${p.title}”` : ""}`; cls = "warn"; }
  else { text = "Đang xem riêng"; cls = "warn"; }
  badge.textContent = text;
  badge.className = `badge ${cls}`;
  $("#btn-follow").hidden = D.following;
  $("#btn-private").hidden = !(D.following && p) || presentingMine();
  const live = presentingMine() && v && p.version_id === v.version_id;
  const present = $("#btn-present");
  present.hidden = !(mayPresent() && v) || (live && p.page === v.page);
  present.textContent = live ? "Trình chiếu trang này" : "Trình chiếu cho cả hội nghị";
  $("#btn-present-stop").hidden = !(mayPresent() && presentingMine());
  $("#doc-title").textContent = v ? v.title : "Chưa mở tài liệu";
  $("#doc-title").title = v ? v.title : "";
  $("#doc-page-num").textContent = v ? v.page : "–";
  $("#doc-page-count").textContent = v ? v.page_count : "–";
  $("#doc-prev").disabled = !v || v.page <= 1;
  $("#doc-next").disabled = !v || v.page >= v.page_count;
  renderAgenda();
}
