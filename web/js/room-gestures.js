// The room's page viewer on tablets and phones (issue 12, item 1): zoom past the frame's width with "−"/"+" or
// two fingers (the frame then scrolls both ways), and a sideways swipe that turns the page. Zoom 1 fits the width.

const STEPS = [1, 1.25, 1.5, 2, 2.5, 3, 4];
const SWIPE_PX = 60; // shorter moves are taps or scrolls
const SWIPE_MS = 1000;

const clamp = (z) => Math.min(STEPS.at(-1), Math.max(1, Math.round(z * 100) / 100));

/** The zoom of one page image in its scrolling frame; onChange(zoom) after every change. */
export class PageZoom {
  constructor({ wrap, img, onChange }) {
    this.wrap = wrap;
    this.img = img;
    this.onChange = onChange;
    this.zoom = 1;
  }

  /** Zoom to z, keeping the point at (x, y) of the frame (default: its middle) where it is. */
  set(z, at = null) {
    z = clamp(z);
    if (z === this.zoom) return;
    const w = this.wrap;
    const x = at ? at.x : w.clientWidth / 2;
    const y = at ? at.y : w.clientHeight / 2;
    const fx = (w.scrollLeft + x) / Math.max(1, w.scrollWidth);
    const fy = (w.scrollTop + y) / Math.max(1, w.scrollHeight);
    this.zoom = z;
    this.apply();
    w.scrollLeft = fx * w.scrollWidth - x;
    w.scrollTop = fy * w.scrollHeight - y;
    this.onChange?.(z);
  }

  step(dir) {
    const next = dir > 0 ? STEPS.find((s) => s > this.zoom + 0.01) : [...STEPS].reverse().find((s) => s < this.zoom - 0.01);
    this.set(next ?? this.zoom);
  }

  apply() {
    const zoomed = this.zoom > 1;
    this.img.style.width = zoomed ? `${this.zoom * 100}%` : "";
    this.wrap.classList.toggle("zoomed", zoomed);
  }
}

const gap = (a, b) => Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY);

/** Touch on the frame: two fingers zoom; one finger swiped sideways calls onSwipe(+1 next | -1 previous),
 *  unless the page is wider than the frame (the finger pans it then). */
export function wireTouch(wrap, zoom, onSwipe) {
  let start = null;
  let pinch = null;
  wrap.addEventListener("touchstart", (e) => {
    if (e.touches.length === 2) {
      const [a, b] = e.touches;
      const r = wrap.getBoundingClientRect();
      pinch = { d: Math.max(10, gap(a, b)), z: zoom.zoom, at: { x: (a.clientX + b.clientX) / 2 - r.left, y: (a.clientY + b.clientY) / 2 - r.top } };
      start = null;
    } else if (e.touches.length === 1 && !pinch) {
      const t = e.touches[0];
      start = { x: t.clientX, y: t.clientY, at: Date.now() };
    } else {
      start = null;
    }
  }, { passive: true });
  const flat = () => zoom.zoom <= 1 && wrap.scrollWidth <= wrap.clientWidth + 2;
  wrap.addEventListener("touchmove", (e) => {
    if (pinch && e.touches.length === 2) {
      if (e.cancelable) e.preventDefault();
      zoom.set(pinch.z * gap(e.touches[0], e.touches[1]) / pinch.d, pinch.at);
    } else if (start && e.touches.length === 1 && flat()) {
      // A sideways move over a page that fits is ours: not a browser "back" or "forward" by overscroll.
      const t = e.touches[0];
      if (e.cancelable && Math.abs(t.clientX - start.x) > Math.abs(t.clientY - start.y)) e.preventDefault();
    }
  }, { passive: false });
  wrap.addEventListener("touchend", (e) => {
    if (pinch) {
      if (!e.touches.length) pinch = null;
      return;
    }
    const s = start;
    start = null;
    if (!s || e.touches.length || e.changedTouches.length !== 1) return;
    const t = e.changedTouches[0];
    const dx = t.clientX - s.x;
    const dy = t.clientY - s.y;
    if (Date.now() - s.at > SWIPE_MS || Math.abs(dx) < SWIPE_PX || Math.abs(dx) < 1.5 * Math.abs(dy)) return;
    if (!flat()) return;
    onSwipe(dx < 0 ? +1 : -1);
  });
  wrap.addEventListener("touchcancel", () => { start = null; pinch = null; });
}
