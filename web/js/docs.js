// Paperless meeting helpers both pages share: the agenda tree, and page images
// rendered by the server (GET /api/agenda/versions/{id}/pages/{page}?width=…).
// A room sends its token in the Authorization header, which <img src> cannot do:
// pages are fetched as blobs and shown through object URLs, a few kept for speed.
import { RequestError, api } from "./meeting.js";
import { el } from "./ui.js";

export const PAGE_WIDTHS = [480, 960, 1600];

/** The smallest rendered width that fills `cssPx` CSS pixels on this screen. */
export function pickWidth(cssPx) {
  const need = Math.max(1, cssPx) * (window.devicePixelRatio || 1);
  return PAGE_WIDTHS.find((w) => w >= need * 0.9) || PAGE_WIDTHS[PAGE_WIDTHS.length - 1];
}

/** Items and documents of a meeting (HTTP), grouped: [{item, docs}] in agenda order, then the unassigned ones. */
export async function loadAgenda(meetingId, token = null) {
  const [items, docs] = await Promise.all([
    api(`/api/agenda/meetings/${meetingId}/items`, { token }),
    api(`/api/agenda/meetings/${meetingId}/documents`, { token }),
  ]);
  return { items, docs };
}

export function agendaTree(items, docs) {
  const byItem = new Map(items.map((i) => [i.id, []]));
  const loose = [];
  for (const d of docs) {
    if (!d.current) continue; // no readable version yet
    (byItem.get(d.item_id) || loose).push(d);
  }
  const out = [...items].sort((a, b) => a.position - b.position || a.id - b.id).map((item) => ({ item, docs: byItem.get(item.id) }));
  if (loose.length) out.push({ item: null, docs: loose });
  return out;
}

/** One document row's label: title, pages, and a "mật" mark. */
export function docLabel(d) {
  const v = d.current;
  return [
    el("span", { class: "doc-title" }, d.title),
    el("small", { class: "doc-meta" }, `${v.page_count} trang${v.number > 1 ? ` · bản ${v.number}` : ""}`),
    d.confidential ? el("span", { class: "tag mute" }, "Mật") : null,
  ];
}

/** Fetches page images with the caller's credentials; keeps the last few as object URLs. */
export class PageLoader {
  constructor({ token = null, keep = 16, scheme = "Bearer" } = {}) {
    this.token = token;
    this.scheme = scheme; // "Delegate" on the delegate's page (confserver/delegates/access.py)
    this.keep = keep;
    this.cache = new Map(); // key -> Promise<objectURL>
  }

  url(versionId, page, width) {
    return `/api/agenda/versions/${versionId}/pages/${page}?width=${width}`;
  }

  /** Resolves with an object URL of the PNG; rejects with a RequestError. */
  load(versionId, page, width) {
    const key = `${versionId}/${page}/${width}`;
    let p = this.cache.get(key);
    if (p) {
      this.cache.delete(key); // most recent last
      this.cache.set(key, p);
      return p;
    }
    p = this._fetch(this.url(versionId, page, width));
    this.cache.set(key, p);
    p.catch(() => this.cache.delete(key));
    while (this.cache.size > this.keep) {
      const [oldKey, old] = this.cache.entries().next().value;
      this.cache.delete(oldKey);
      old.then((u) => setTimeout(() => URL.revokeObjectURL(u), 5000), () => {});
    }
    return p;
  }

  /** Warm the cache for the pages around one (ignores errors). */
  prefetch(versionId, pages, pageCount, width) {
    for (const n of pages) if (n >= 1 && n <= pageCount) this.load(versionId, n, width).catch(() => {});
  }

  async _fetch(url) {
    const headers = {};
    if (this.token) headers.Authorization = `${this.scheme} ${this.token}`;
    let resp;
    try {
      resp = await fetch(url, { headers, credentials: "same-origin" });
    } catch (e) {
      throw new RequestError("network", "Không tải được trang tài liệu: mất kết nối mạng.");
    }
    if (!resp.ok) {
      let data = null;
      try { data = await resp.json(); } catch (e) { /* not JSON */ }
      const err = new RequestError(data?.code || `http_${resp.status}`, data?.message || `Không tải được trang (lỗi ${resp.status}).`);
      err.status = resp.status;
      throw err;
    }
    return URL.createObjectURL(await resp.blob());
  }
}

/** Django's CSRF token for the console's own POSTs (session login). */
export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}
