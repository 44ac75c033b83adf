// Who is signed in, and "Đăng xuất", in the header of a signed-in page (console, review list, minutes):
// issue 12, item 13. A page adds it with one line,
//   <script type="module" src="/web/js/account.js"></script>
// and, where the chip should sit, <div data-account></div> in its .topbar (without one, the chip goes at
// the end of the .topbar). Signing out posts to /logout/, which lands on the sign-in page.
import { ask, el } from "./ui.js";

const STYLESHEET = "/web/css/account.css";

/** Fetch who is signed in and draw the chip into `slot`; null when nobody is (the page sends them to sign in). */
export async function mountAccount(slot = document.querySelector("[data-account]")) {
  if (!slot) {
    const bar = document.querySelector(".topbar");
    if (!bar) return null;
    slot = el("div", { "data-account": "" });
    bar.append(slot);
  }
  if (slot.dataset.mounted) return null;
  slot.dataset.mounted = "1";
  addStylesheet();
  let me;
  try {
    const resp = await fetch("/api/accounts/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) { delete slot.dataset.mounted; return null; }
    me = await resp.json();
  } catch (e) {
    delete slot.dataset.mounted; // offline: the page says so itself
    return null;
  }
  const detail = [me.role_label, me.unit_name].filter(Boolean).join(" · ");
  const form = el("form", { method: "post", action: "/logout/", class: "account-menu", onsubmit: confirmSignOut },
    el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: me.csrf }),
    me.home === "/home/" && !location.pathname.startsWith("/home") // an administrator's choice of pages
      ? el("a", { class: "btn btn-sm", href: "/home/", title: "Chọn trang làm việc khác" }, "Trang khác") : null,
    el("button", { class: "btn btn-sm", type: "submit", id: "signout-btn" }, "Đăng xuất"));
  slot.replaceChildren(el("div", { class: "account-chip", id: "account-chip" },
    el("div", { class: "account-who", title: `Đang đăng nhập: ${me.name} (${me.username})${detail ? ` — ${detail}` : ""}` },
      el("span", { class: "account-name", id: "account-name" }, me.name),
      // The role and the unit apart: a narrow header (the console at <= 1700 px) keeps the role, drops the unit.
      detail ? el("span", { class: "account-role" }, me.role_label || me.unit_name,
        me.role_label && me.unit_name ? el("span", { class: "account-unit" }, ` · ${me.unit_name}`) : null) : null),
    form));
  return me;
}

/** On the console during a meeting, signing out asks first: the meeting goes on without this screen. */
async function confirmSignOut(e) {
  const client = window.confserver?.client;
  if (!client?.joined || e.target.dataset.confirmed) return;
  e.preventDefault();
  const ok = await ask({
    title: "Đăng xuất?",
    body: "Cuộc họp vẫn tiếp tục và các phòng không bị ngắt; màn hình này sẽ rời khỏi cuộc họp.",
    confirm: "Đăng xuất",
  });
  if (!ok) return;
  e.target.dataset.confirmed = "1";
  e.target.submit();
}

function addStylesheet() {
  if (document.querySelector(`link[href="${STYLESHEET}"]`)) return;
  document.head.append(el("link", { rel: "stylesheet", href: STYLESHEET }));
}

mountAccount();
