"""The HTTP cases of bench/hostile.py: database connections, sign-in throttling, big anonymous
bodies and hostile PDFs. Each takes the Bench and fills its figures in `b.out`."""

import asyncio
import re
import secrets
import time
from collections import Counter

import _hostile_pdfs
import aiohttp
from _hostile_procs import Sampler, Worker, log, mb

THROTTLE_WORDS = ("quá nhiều", "thử lại sau", "tạm khóa", "tạm khoá", "too many")


# ---- db ----------------------------------------------------------------------------------------


async def case_db(b):
    """500 API calls (each reads the session and the meeting), 10 at a time over both workers. On a
    PostgreSQL server others share, the calls stop once the database holds more than --db-cap."""
    cap = b.args.db_cap
    b.out["db_connections_before"] = await asyncio.to_thread(b.guard.count)
    statuses = Counter()
    n, parallel, made, over = 500, 10, 0, False
    todo = iter(range(n))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def client():
            nonlocal made, over
            for i in todo:
                if over:
                    return
                w = b.workers[i % len(b.workers)]
                try:
                    async with http.get(f"{w.base}/api/meetings/{b.mid}", headers=b.http_headers()) as r:
                        await r.read()
                        statuses[r.status] += 1
                except aiohttp.ClientError as exc:
                    statuses[type(exc).__name__] += 1
                made += 1
                if await asyncio.to_thread(b.guard.count) > cap:
                    over = True

        await asyncio.gather(*(client() for _ in range(parallel)))
    await asyncio.sleep(1.0)
    held = await asyncio.to_thread(b.guard.count)
    b.out["db_connections_after_500_requests"] = f"> {cap} after {made} requests" if over else held
    b.out["db_http_statuses"] = {str(k): v for k, v in statuses.items()}
    log(f"db: {made} requests {dict(statuses)}; connections {b.out['db_connections_before']} -> {held}")


# ---- login -------------------------------------------------------------------------------------


async def case_login(b):
    """Wrong passwords for one account, one after another, until the sign-in page refuses (429 or a
    throttle message) or 100 attempts were all answered."""
    base = b.workers[0].base
    jar = aiohttp.CookieJar(unsafe=True)
    statuses = Counter()
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.get(f"{base}/login/") as r:
            page = await r.text()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        b.out["login_statuses"] = statuses
        times = []
        for n in range(1, 101):
            data = {"csrfmiddlewaretoken": token, "username": "seed-host", "password": f"sai-{n}", "next": "/"}
            t0 = time.perf_counter()
            async with http.post(
                f"{base}/login/", data=data, allow_redirects=False, headers={"Referer": f"{base}/login/"}
            ) as r:
                text = (await r.text(errors="replace")).lower()
                statuses[r.status] += 1
                times.append(time.perf_counter() - t0)
                b.out["login_attempt_ms_p50"] = round(sorted(times)[len(times) // 2] * 1000)
                if r.status == 429 or "Retry-After" in r.headers or any(w in text for w in THROTTLE_WORDS):
                    b.out["login_throttled_after"] = n
                    break
    b.out["login_statuses"] = {str(k): v for k, v in statuses.items()}
    log(
        f"login: {dict(statuses)}, throttled at attempt {b.out['login_throttled_after']}, "
        f"{b.out['login_attempt_ms_p50']} ms per attempt"
    )


# ---- big anonymous bodies ----------------------------------------------------------------------


async def post_stream(b, worker: Worker, path: str, total: int, content_type: str, head: bytes, tail: bytes) -> dict:
    """POST `total` bytes as fast as the server reads them; stop when it answers or closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", worker.port)
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{worker.port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {total}\r\nConnection: close\r\n\r\n"
        ).encode()
        + head
    )
    answer = asyncio.ensure_future(reader.read(4096))
    block = b"\0" * (1 << 20)
    left, t0 = total - len(head) - len(tail), time.monotonic()
    sent = len(head)
    try:
        while left > 0 and not answer.done() and time.monotonic() - t0 < b.args.upload_time:
            piece = block[: min(left, len(block))]
            writer.write(piece)
            drained = asyncio.ensure_future(writer.drain())
            await asyncio.wait({drained, answer}, timeout=b.args.upload_time, return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():
                drained.cancel()
                break
            drained.result()
            left -= len(piece)
            sent += len(piece)
        if left <= 0:
            writer.write(tail)
            sent += len(tail)
        first = await asyncio.wait_for(answer, max(1.0, b.args.upload_time - (time.monotonic() - t0)))
    except (TimeoutError, ConnectionError) as exc:
        first = f"{type(exc).__name__}".encode()
    finally:
        answer.cancel()
        writer.close()
    status = first.split(b"\r\n", 1)[0].decode("latin-1")
    return {"status": status, "sent_mb": round(sent / 2**20, 1), "s": round(time.monotonic() - t0, 2)}


async def case_upload(b):
    """An anonymous 200 MB POST to the upload endpoint, then to /login/, each on a fresh worker."""
    w0, limit = b.workers[0], b.args.max_rss_mb
    total = b.args.upload_mb * 2**20
    boundary = "hostile" + secrets.token_hex(8)
    bodies = {
        "upload": (
            f"/api/agenda/meetings/{b.mid}/documents",
            f"multipart/form-data; boundary={boundary}",
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
                f"Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
            ).encode(),
            f"\r\n--{boundary}--\r\n".encode(),
        ),
        "login": ("/login/", "application/x-www-form-urlencoded", b"username=a&password=", b""),
    }
    for name, (path, ctype, head, tail) in bodies.items():
        await b.fresh(w0)
        with Sampler(w0.pid, limit_mb=limit, over_limit=w0.kill9) as s:
            res = await post_stream(b, w0, path, total, ctype, head, tail)
            await asyncio.sleep(1.0)
        key = "anon_200mb_upload_peak_mb" if name == "upload" else "anon_200mb_login_peak_mb"
        b.out[key] = mb(s, limit)
        b.out[f"anon_200mb_{name}_answer"] = res
        log(
            f"upload: anonymous {b.args.upload_mb} MB to {path}: {res}, peak +{b.out[key]} MB "
            f"over {s.baseline_mb:.0f} MB"
        )


# ---- render ------------------------------------------------------------------------------------


async def case_render(b):
    """The host uploads each hostile PDF and asks for its first page; memory of the worker and its
    children, and the time of the upload plus the render (or of the refusal)."""
    w0, limit = b.workers[0], b.args.max_rss_mb
    docs = await asyncio.to_thread(_hostile_pdfs.all_hostile)
    detail, peaks, times, aborted = {}, [], [], False
    await b.fresh(w0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=b.args.render_time)) as http:
        for name, data in docs.items():
            if not w0.alive():
                await b.fresh(w0)
            d = detail[name] = {"bytes": len(data)}
            width = 1600 if name == "tall_page" else 960
            with Sampler(w0.pid, limit_mb=limit, over_limit=w0.kill9) as s:
                t0 = time.perf_counter()
                try:
                    form = aiohttp.FormData()
                    form.add_field("file", data, filename=f"{name}.pdf", content_type="application/pdf")
                    form.add_field("title", f"Tài liệu thử {name}")
                    async with http.post(
                        f"{w0.base}/api/agenda/meetings/{b.mid}/documents", data=form, headers=b.http_headers(csrf=True)
                    ) as r:
                        body = await r.json(content_type=None)
                        d["upload"] = r.status if r.status == 201 else f"{r.status} {body.get('code')}"
                    if r.status == 201:
                        vid = body["current"]["id"]
                        async with http.get(
                            f"{w0.base}/api/agenda/versions/{vid}/pages/1?width={width}", headers=b.http_headers()
                        ) as r:
                            payload = await r.read()
                            d["render"] = (
                                r.status if r.status == 200 else f"{r.status} {payload[:120].decode(errors='replace')}"
                            )
                except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                    d["error"] = type(exc).__name__
                elapsed = time.perf_counter() - t0
            d["s"], d["peak_mb"] = round(elapsed, 2), mb(s, limit)
            peaks.append(s.max_mb - s.baseline_mb if not s.exceeded else float("inf"))
            times.append(elapsed)
            aborted = aborted or s.exceeded
            log(f"render: {name}: {d}")
    b.out["render_bomb_peak_mb"] = f"> {limit:g}" if max(peaks) == float("inf") else round(max(peaks), 1)
    b.out["render_bomb_s"] = f"> {max(times):.2f}" if aborted else round(max(times), 2)
    b.out["render_bomb_detail"] = detail
