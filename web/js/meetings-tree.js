// The invitation tree of the meetings page (issue 12, item 4): the host's subtree as a tree with checkboxes,
// collapse, accent-folded search ("thuan hoa" finds "Thuận Hóa") and the count of rooms invited.
// A checkbox stands for the unit itself; "Chọn các xã" beside a unit ticks the units under it, so "a district
// with its communes", "all communes of a district", "districts only" and picked units are all a few clicks.
// Nodes come from GET /api/units/{code}/tree: tree order, each with its active rooms and its folded name.
import { el } from "./ui.js";

export const LEVEL_NAME = { 1: "tỉnh, thành phố", 2: "huyện, quận, thị xã", 3: "xã, phường, thị trấn" };

/** The same folding as confserver/agenda/fold.py: no accents, đ → d, lower case, single spaces. */
export function fold(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().replace(/đ/g, "d").split(/\s+/).filter(Boolean).join(" ");
}

export class UnitTree {
  /** `root` (the tree's element) gets one row per unit; onChange() after every change of the selection. */
  constructor(root, nodes, { onChange = () => {} } = {}) {
    this.root = root;
    this.onChange = onChange;
    this.nodes = nodes;
    this.byCode = new Map(nodes.map((n) => [n.code, { ...n, children: [], row: null, box: null }]));
    this.top = this.byCode.get(nodes[0].code);
    for (const n of this.byCode.values()) this.byCode.get(n.parent_code)?.children.push(n);
    this.checked = new Set([this.top.code]);
    this.locked = new Set([this.top.code]); // always ticked: the host unit, and during a test run the invited
    this.open = new Set([this.top.code]);
    this.query = "";
    this.draw();
  }

  // ---- selection -----------------------------------------------------------------------------------

  set(codes) {
    this.checked = new Set([...this.locked, ...codes.filter((c) => this.byCode.has(c))]);
    this.refresh();
  }

  /** Units that can be ticked but not cleared (during the test run rooms may be added, not removed). */
  lock(codes) {
    this.locked = new Set([this.top.code, ...codes.filter((c) => this.byCode.has(c))]);
    for (const c of this.locked) this.checked.add(c);
    this.refresh();
  }

  codes() {
    return this.nodes.map((n) => n.code).filter((c) => this.checked.has(c));
  }

  /** Whole subtree (`maxLevel` null), down to a level, or only one level (the host unit always stays). */
  preset({ maxLevel = null, onlyLevel = null } = {}) {
    this.checked = new Set(this.locked);
    for (const n of this.byCode.values()) {
      if (onlyLevel != null ? n.level === onlyLevel : maxLevel == null || n.level <= maxLevel) this.checked.add(n.code);
    }
    this.refresh();
  }

  levels() {
    return [...new Set(this.nodes.map((n) => n.level))].sort();
  }

  /** {rooms, units, byLevel: {level: units}} of what is ticked. */
  count() {
    const out = { rooms: 0, units: 0, byLevel: {}, noRoom: 0 };
    for (const code of this.checked) {
      const n = this.byCode.get(code);
      out.rooms += n.rooms;
      out.units += 1;
      out.byLevel[n.level] = (out.byLevel[n.level] || 0) + 1;
      if (!n.rooms) out.noRoom += 1;
    }
    return out;
  }

  toggle(code, on) {
    if (on) this.checked.add(code); else if (!this.locked.has(code)) this.checked.delete(code);
    this.refresh();
  }

  /** Tick (or clear) every unit under `node`, not the node itself. */
  toggleBelow(node, on) {
    const walk = (n) => n.children.forEach((c) => {
      if (on) this.checked.add(c.code); else if (!this.locked.has(c.code)) this.checked.delete(c.code);
      walk(c);
    });
    walk(node);
    this.refresh();
  }

  // ---- drawing ------------------------------------------------------------------------------------

  search(text) {
    this.query = fold(text);
    this.refresh(false);
  }

  expandAll(on) {
    this.open = new Set(on ? [...this.byCode.values()].filter((n) => n.children.length).map((n) => n.code) : [this.top.code]);
    this.refresh(false);
  }

  draw() {
    const rows = [];
    for (const n of this.byCode.values()) {
      n.box = el("input", { type: "checkbox", id: `u-${n.code}`, "data-code": n.code,
        onchange: (e) => this.toggle(n.code, e.target.checked) });
      n.twist = n.children.length
        ? el("button", { type: "button", class: "mt-twist", "aria-label": `Mở, thu gọn ${n.name}`,
          onclick: () => { this.open.has(n.code) ? this.open.delete(n.code) : this.open.add(n.code); this.refresh(false); } })
        : el("span", { class: "mt-twist-none" });
      n.below = n.children.length && n !== this.top
        ? el("button", { type: "button", class: "btn btn-sm mt-below", "data-below": n.code,
          onclick: () => this.toggleBelow(n, !this.allBelow(n)) })
        : null;
      n.meta = el("span", { class: "mt-meta" });
      n.row = el("div", { class: `mt-node lvl-${n.level}`, role: "treeitem", "data-code": n.code,
        style: `--depth:${this.depth(n)}` },
        n.twist,
        el("label", { class: "mt-label", for: `u-${n.code}` }, n.box, el("span", { class: "mt-name" }, n.name)),
        n.meta, n.below);
      rows.push(n.row);
    }
    this.root.replaceChildren(...rows);
    this.refresh();
  }

  depth(n) {
    let d = 0;
    for (let p = this.byCode.get(n.parent_code); p; p = this.byCode.get(p.parent_code)) d++;
    return d;
  }

  allBelow(n) {
    return n.children.every((c) => this.checked.has(c.code) && this.allBelow(c));
  }

  tickedBelow(n) {
    return n.children.reduce((s, c) => s + (this.checked.has(c.code) ? 1 : 0) + this.tickedBelow(c), 0);
  }

  sizeBelow(n) {
    return n.children.reduce((s, c) => s + 1 + this.sizeBelow(c), 0);
  }

  /** Which rows show: with a search, the matches and their ancestors (opened); else the opened branches. */
  visible() {
    const show = new Set();
    if (this.query) {
      for (const n of this.byCode.values()) {
        if (!n.folded.includes(this.query)) continue;
        for (let p = n; p; p = this.byCode.get(p.parent_code)) show.add(p.code);
      }
      return show;
    }
    const walk = (n) => { show.add(n.code); if (this.open.has(n.code)) n.children.forEach(walk); };
    walk(this.top);
    return show;
  }

  refresh(changed = true) {
    const show = this.visible();
    for (const n of this.byCode.values()) {
      n.row.hidden = !show.has(n.code);
      n.box.checked = this.checked.has(n.code);
      n.box.disabled = this.locked.has(n.code);
      n.box.title = n === this.top ? "Đơn vị chủ trì luôn tham dự"
        : this.locked.has(n.code) ? "Đang chạy thử: không bỏ được đơn vị đã mời" : "";
      n.row.classList.toggle("match", Boolean(this.query) && n.folded.includes(this.query));
      if (n.children.length) {
        const opened = this.query ? true : this.open.has(n.code);
        n.twist.textContent = opened ? "▾" : "▸";
        n.twist.setAttribute("aria-expanded", String(opened));
        const size = this.sizeBelow(n), ticked = this.tickedBelow(n);
        const word = n.children.every((c) => c.level === 3) ? "xã, phường" : "đơn vị trực thuộc";
        n.meta.textContent = `đã chọn ${ticked}/${size} ${word}`;
        if (n.below) n.below.textContent = this.allBelow(n) ? `Bỏ các ${word}` : `Chọn cả ${size} ${word}`;
      } else {
        n.meta.textContent = n.rooms === 1 ? "" : n.rooms ? `${n.rooms} phòng` : "chưa có phòng";
      }
    }
    if (changed) this.onChange(this.count());
  }
}
