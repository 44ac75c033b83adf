"""The console on a laptop and a tablet (issue 12, items 9 and 14), in real Chromium against a real server holding
Huế in the pre-2025 structure (144 rooms).

Proves: at 1366x768 and 1024x768, with a room given the floor, the speaker's name is at least 120 px wide and on top
(elementFromPoint at its centre is the name), the chair's own controls ("Về hình chủ trì", "Thu hồi", the speaker
box's buttons, "Bắt đầu điểm danh", the speaker clock) are on top without any scrolling, the page has no sideways
scroll, and a toast covers none of them nor the rooms' action buttons; the links dialog searches without accents,
groups rooms by district, shows each link's expiry and never lists the chair's own room; the roll call's badges say
what they mean ("Chưa điểm danh", not "Không điểm danh"; an online room is marked "Có mặt trực tuyến", a room in
the hall "Có mặt tại hội trường"). Screenshots in test-artifacts/console-tablet-*.png.
"""

import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from confserver.testing import live

from .conftest import ARTIFACTS, open_console
from .test_console_day_browser import fold, links_of, room_socket, rooms_of
from .test_meeting_browser import new_page, poll, shots  # noqa: F401  (shots is a fixture)

pytestmark = pytest.mark.browser

# For each selector: "ok" when the point at the middle of its box is the element or inside it, else why not.
# No scrolling: what is off screen or under something else is reported.
HIT = """(sels) => {
  const name = (n) => n ? (n.id ? `#${n.id}` : n.tagName.toLowerCase() + (n.className ? `.${String(n.className).split(" ").join(".")}` : "")) : "nothing";
  const out = {};
  for (const sel of sels) {
    const el = document.querySelector(sel);
    if (!el) { out[sel] = "missing"; continue; }
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) { out[sel] = "not shown"; continue; }
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) { out[sel] = `off screen at ${Math.round(x)},${Math.round(y)}`; continue; }
    const hit = document.elementFromPoint(x, y);
    out[sel] = hit && (hit === el || el.contains(hit)) ? "ok" : `covered by ${name(hit)}`;
  }
  return out;
}"""

CHAIR_CONTROLS = [
    "#speaker-name",
    "#speaker-present",
    "#speaker-revoke",
    "#speaker-clock",
    "#btn-lecture",
    "#btn-revoke",
    "#btn-rc-start",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-tablet")
    ARTIFACTS.mkdir(exist_ok=True)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            [port],
            DJANGO_SETTINGS_MODULE="tests.e2e.settings",
            PYTHONPATH=str(live.ROOT),
            CONFSERVER_VAR_DIR=str(tmp / "var"),
            RECORDING_DEFAULT_ON="0",
            CSRF_TRUSTED_ORIGINS=origin,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "pre2025")
        with live.daphne(env, port, ARTIFACTS / "e2e-console-tablet-server.log"):
            yield origin


def console(launch, clips, base, w, h):
    host = new_page(launch(clips["chair"]), w, h)
    meeting_id = open_console(host, base)
    host.wait_for_selector("#rooms-body tr[data-room-id]")
    if host.is_visible("#btn-test-run"):
        host.click("#btn-test-run")
    host.wait_for_selector("#state-badge.state-test_run")
    return host, meeting_id


def hits(page, sels):
    got = page.evaluate(HIT, sels)
    return {s: v for s, v in got.items() if v != "ok"}


@pytest.mark.parametrize("w,h", [(1366, 768), (1024, 768)])
def test_speaker_box_and_the_chairs_controls_without_scrolling(server, clips, launch, shots, w, h):
    host, meeting_id = console(launch, clips, server, w, h)
    shots[f"console-tablet-{w}"] = host
    links = links_of(host, server, meeting_id)
    names = {r["room_id"]: r["room_name"] for r in rooms_of(host, server, meeting_id)}
    # The longest name among the rooms that have a link: the hardest one to show.
    speaker = max(links, key=lambda i: (len(names[i]), -i))
    ctx = room_socket(host.context.browser, server, meeting_id, links[speaker])
    # Given the floor as the operator would from the queue, without scrolling the page to the room's row.
    poll(lambda: host.is_visible(f'tr[data-room-id="{speaker}"] .dot.online'), what="room online")
    host.evaluate("(id) => window.confserver.client.request('grant_floor', {room_id: id})", speaker)
    host.wait_for_selector("#speaker:not([hidden])")
    host.wait_for_timeout(300)
    where = f"console {w}x{h}"
    host.screenshot(path=str(ARTIFACTS / f"console-tablet-floor-{w}x{h}.png"))

    assert host.evaluate("[scrollX, scrollY]") == [0, 0]
    width = host.evaluate("document.documentElement.scrollWidth")
    assert width <= w, f"{where}: the page is {width} px wide"
    name = host.eval_on_selector("#speaker-name", "e => e.getBoundingClientRect().width")
    assert name >= 120, f"{where}: the speaker's name is {name:.0f} px wide"
    assert names[speaker].replace("Phòng họp ", "") in host.inner_text("#speaker-name")
    controls = CHAIR_CONTROLS
    assert not hits(host, controls), f"{where}: {hits(host, controls)}"

    # A toast (here: the one every floor change may bring) covers none of them, nor a room's actions.
    host.evaluate(
        "import('/web/js/ui.js').then((m) => { for (let i = 0; i < 3; i++) m.toast('Thông báo thử ' + i, 'error', 20000); })"
    )
    host.wait_for_selector("#toasts .toast")
    assert not hits(host, controls + ["#btn-links"]), f"{where}, toasts: {hits(host, controls + ['#btn-links'])}"
    host.screenshot(path=str(ARTIFACTS / f"console-tablet-toast-{w}x{h}.png"))
    if w <= 1100:  # the tablet: the rooms' table is under the first screen; scrolled to, the toasts stay clear of it
        host.evaluate("""() => { document.querySelector('.rooms-panel').scrollIntoView();
          document.querySelector('.rooms-panel .table-wrap').scrollLeft = 1e6; }""")  # the actions, as a finger would
    acts = host.eval_on_selector_all(
        "#rooms-body td.acts button",
        """bs => bs.filter((b) => { const r = b.getBoundingClientRect();
          return r.height && r.bottom <= innerHeight && r.top >= 0 && r.left >= 0 && r.right <= innerWidth; }).map((b) => {
          const tr = b.closest('tr'); const i = [...tr.querySelectorAll('button')].indexOf(b);
          return `tr[data-room-id="${tr.dataset.roomId}"] td.acts button:nth-child(${i + 1})`; })""",
    )
    assert len(acts) >= 4, f"{where}: {len(acts)} rooms' action buttons on screen"
    assert not hits(host, acts), f"{where}, toasts: {hits(host, acts)}"
    ctx.close()
    assert not host.js_errors, host.js_errors
    shots.clear()


def test_links_dialog_search_districts_expiry_and_no_chair_room(server, clips, launch, shots):
    host, meeting_id = console(launch, clips, server, 1366, 768)
    shots["console-links"] = host
    tokens = host.request.get(f"{server}/api/meetings/{meeting_id}/room-tokens").json()
    rooms = rooms_of(host, server, meeting_id)
    names = {r["room_id"]: r["room_name"] for r in rooms}
    chair = host.evaluate("window.confserver.state?.me?.room_id ?? null") or next(
        r["room_id"] for r in rooms if r["unit_code"] == "46"
    )
    units = {u["code"]: u for u in host.request.get(f"{server}/api/units/46/subtree").json()}

    def district(code):
        while units[code]["level"] > 2:
            code = units[code]["parent_code"]
        return code if units[code]["level"] == 2 else ""

    by_district = {}
    for r in rooms:
        if r["room_id"] != chair:
            by_district.setdefault(district(r["unit_code"]), set()).add(r["room_id"])

    host.click("#btn-links")
    dlg = host.wait_for_selector("dialog.links-dialog[open]")
    listed = host.eval_on_selector_all(
        "dialog.links-dialog .links-list .row", "rs => rs.map((r) => Number(r.dataset.roomId))"
    )
    assert chair not in listed and sorted(listed) == sorted(t["room_id"] for t in tokens)
    # Grouped by district: a header per district, each room under its own.
    groups = host.eval_on_selector_all(
        "dialog.links-dialog .links-group",
        "gs => gs.map((g) => [g.dataset.district, [...g.querySelectorAll('.row')].map((r) => Number(r.dataset.roomId))])",
    )
    assert {d: set(ids) for d, ids in groups} == by_district
    assert all(
        host.inner_text(f'dialog.links-dialog .links-group[data-district="{d}"] .links-group-name')
        for d, _ in groups
        if d
    )
    # Each link says when it expires (in the terminal's time, as the rest of the console).
    zone = ZoneInfo(host.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone"))
    for t in tokens[:5]:
        at = datetime.fromisoformat(t["expires_at"].replace("Z", "+00:00")).astimezone(zone)
        text = host.inner_text(f'dialog.links-dialog .row[data-room-id="{t["room_id"]}"] .link-expiry')
        assert f"{at:%H:%M} {at:%d/%m/%Y}" in text and "Hết hạn" in text, text
    # The search folds accents: "thuan hoa" finds Quận Thuận Hóa's rooms and the ward Thuận Hòa.
    host.fill("dialog.links-dialog #links-search", "thuan hoa")
    shown = set(
        host.eval_on_selector_all(
            "dialog.links-dialog .links-list .row:not([hidden])",
            "rs => rs.filter((r) => r.offsetParent).map((r) => Number(r.dataset.roomId))",
        )
    )
    want = {i for i in listed if "thuan hoa" in fold(names[i])} | by_district["474"]
    assert shown == want and "Phòng họp Phường Thuận Hòa" in {names[i] for i in shown}
    host.screenshot(path=str(ARTIFACTS / "console-tablet-links.png"))
    host.fill("dialog.links-dialog #links-search", "khong co phong nao nhu the")
    assert host.is_visible("dialog.links-dialog #links-none")
    dlg.press("Escape")
    assert not host.js_errors, host.js_errors
    shots.clear()


def test_roll_call_badges_say_what_they_mean(server, clips, launch, shots):
    host, meeting_id = console(launch, clips, server, 1366, 768)
    shots["console-rollcall"] = host
    links = links_of(host, server, meeting_id)
    online, hall = sorted(links)[:2]
    ctx = room_socket(host.context.browser, server, meeting_id, links[online])
    poll(lambda: host.is_visible(f'tr[data-room-id="{online}"] .dot.online'), what="room online")

    assert host.text_content("#rc-badge") == "Chưa điểm danh"
    assert "Chưa điểm danh" in host.inner_text(f'tr[data-room-id="{hall}"] td:nth-child(4)')
    host.click("#btn-rc-start")
    host.wait_for_selector("#btn-rc-end:not([hidden])")
    assert host.text_content("#rc-badge") == "Đang điểm danh"
    # The operator's buttons say which presence they record: online for a connected room, the hall for one that is not.
    assert host.inner_text(f'tr[data-room-id="{online}"] button[data-action="present"]') == "Có mặt trực tuyến"
    assert host.inner_text(f'tr[data-room-id="{hall}"] button[data-action="present"]') == "Có mặt tại hội trường"
    host.click(f'tr[data-room-id="{online}"] button[data-action="present"]')
    host.click(f'tr[data-room-id="{hall}"] button[data-action="present"]')
    poll(
        lambda: "Có mặt trực tuyến" in host.inner_text(f'tr[data-room-id="{online}"] .tag.present'), what="online mark"
    )
    poll(
        lambda: "Có mặt tại hội trường" in host.inner_text(f'tr[data-room-id="{hall}"] .tag.present'), what="hall mark"
    )
    att = {r["room_id"]: r["roll_call"] for r in rooms_of(host, server, meeting_id)}
    assert att[online] == "present_online" and att[hall] == "present_in_person"
    host.click("#btn-rc-end")
    poll(lambda: host.text_content("#rc-badge") == "Đã điểm danh", what="roll call ended")
    host.screenshot(path=str(ARTIFACTS / "console-tablet-rollcall.png"))
    ctx.close()
    assert not host.js_errors, host.js_errors
    shots.clear()
