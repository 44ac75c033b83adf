// Search in a meeting's documents (issue 12, item 7): a box, and hits as the document's title, the page and a
// snippet with the words highlighted. The server folds accents ("thien tai" finds "thiên tai"); a hit is handed
// to the page (`onHit`), which opens the document at that page. Used by the room page and the console.
import { api } from "./meeting.js";
import { el, errorText } from "./ui.js";

const DELAY_MS = 300; // typing pauses this long before a search goes out
const LIMIT = 30;

/** Puts a search box into `root`; returns {clear()}. `token`: the room's, or null for a signed-in operator. */
export function mountDocSearch(root, { meetingId, token = null, onHit, idPrefix = "ds" }) {
  const input = el("input", {
    type: "search", id: `${idPrefix}-q`, class: "ds-input", placeholder: "Tìm trong tài liệu", // the hint in the title: a long placeholder was cut at 1024 px
    title: "Tìm trong tài liệu (gõ có dấu hoặc không dấu)", "aria-label": "Tìm trong tài liệu", autocomplete: "off", enterkeyhint: "search",
  });
  const status = el("div", { class: "ds-status muted small", id: `${idPrefix}-status`, role: "status", "aria-live": "polite" });
  const list = el("ul", { class: "ds-hits", id: `${idPrefix}-hits` });
  root.classList.add("doc-search");
  root.replaceChildren(el("form", { class: "ds-form", role: "search", onsubmit: (e) => { e.preventDefault(); run(true); } },
    input), status, list);

  let timer = null;
  let asked = 0;
  let lastQ = "";

  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => run(false), DELAY_MS); });
  input.addEventListener("keydown", (e) => { if (e.key === "Escape") clear(); });

  async function run(force) {
    const q = input.value.trim();
    if (!q) { clear(false); return; }
    if (q === lastQ && !force) return;
    lastQ = q;
    const mine = ++asked;
    status.textContent = "Đang tìm…";
    let hits;
    try {
      hits = await api(`/api/agenda/meetings/${meetingId}/search?q=${encodeURIComponent(q)}&limit=${LIMIT}`, { token });
    } catch (err) {
      if (mine !== asked) return;
      list.replaceChildren();
      status.textContent = err.code === "empty_query" ? err.message : errorText(err, "tìm trong tài liệu");
      return;
    }
    if (mine !== asked) return; // a newer search went out meanwhile
    status.textContent = hits.length
      ? `${hits.length}${hits.length >= LIMIT ? "+" : ""} trang có “${q}”`
      : `Không thấy “${q}” trong tài liệu của cuộc họp.`;
    list.replaceChildren(...hits.map((h) => el("li", {},
      el("button", {
        type: "button", class: "ds-hit",
        dataset: { documentId: String(h.document_id), versionId: String(h.version_id), page: String(h.page) },
        title: `Mở “${h.document_title}” ở trang ${h.page}`,
        onclick: () => onHit(h),
      },
      el("span", { class: "ds-head" }, el("span", { class: "ds-title" }, h.document_title),
        el("span", { class: "ds-page" }, `Trang ${h.page}`)),
      el("span", { class: "ds-snippet" }, ...snippet(h.snippet))))));
  }

  function clear(emptyBox = true) {
    clearTimeout(timer);
    asked++;
    lastQ = "";
    if (emptyBox) input.value = "";
    status.textContent = "";
    list.replaceChildren();
  }

  return { clear, input };
}

/** The server's snippet (text escaped, hits in <mark>) as DOM nodes: only text and <mark> are kept. */
function snippet(html) {
  const doc = new DOMParser().parseFromString(`<p>${html}</p>`, "text/html");
  return [...doc.body.firstChild.childNodes].map((n) => (n.nodeName === "MARK" ? el("mark", {}, n.textContent)
    : document.createTextNode(n.textContent)));
}
