"""Read benchmark: the published seed page against precomputed bytes, same app and server.

Starts the content service (uvicorn, one worker) on a fresh demo database with one
extra route, ``/bench/static``, that answers the exact bytes and headers of the page
without rendering, negotiating or caching. wrk loads both routes in the same run, for
200s and for 304s (If-None-Match), and the script prints requests per second, p50 and
p99 latencies and the page/static ratio. Loopback traffic only, bounded in time.

    python -m bench.read_bench --duration 5 --connections 16
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.params import FromPath

from services.cli_support import wait_until_serving
from services.content.http.app import create_app
from services.content.settings import Settings

PAGE = "/v1/sites/in-new-delhi/pages/internal-security-section?locale=en"
STATIC = "/bench/sites/in-new-delhi/pages/internal-security-section"


def bench_app_factory() -> Litestar:
    """The content app plus a route that sends the page's precomputed bytes (the baseline)."""
    settings = Settings.from_env()
    app = create_app(settings)
    ready: dict[str, Any] = {}

    # Same route shape as the page (two path parameters), so routing costs the same.
    @get("/bench/sites/{site:str}/pages/{slug:str}", include_in_schema=False)
    async def static(request: Request[Any, Any, Any], site: FromPath[str], slug: FromPath[str]) -> Response[bytes]:
        if not ready:
            served = await request.app.state.delivery.serve("in-new-delhi", "internal-security-section", ("en",))
            body, etag = served.entry.json("en", False)
            ready.update(body=body, etag=etag, headers={"ETag": etag, "Cache-Control": "public, max-age=60"})
        if request.headers.get("if-none-match") == ready["etag"]:
            return Response(b"", status_code=304, headers=ready["headers"])
        return Response(ready["body"], media_type="application/json", headers=ready["headers"])

    app.register(static)
    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise SystemExit(f"cannot read the latency {text!r} in wrk's output")
    value, unit = match.groups()
    return float(value) * _UNITS[unit]


def _wrk(url: str, duration: int, connections: int, headers: dict[str, str]) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "50%" not in out:
        raise SystemExit("wrk printed no latency distribution:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": float(non2xx.group(1)) if non2xx else 0.0}


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per pair (default 2)")
    parser.add_argument("--database-url", help="use this database (default: a fresh SQLite file with the demo)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="liaison-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    port = _free_port()
    env = {**os.environ, "LIAISON_DATABASE_URL": url, "LIAISON_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    liaison = [sys.executable, "-m", "services.cli"]
    subprocess.run([*liaison, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*liaison, "seed"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.read_bench:bench_app_factory",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for url in (base + PAGE, base + STATIC):
            if not wait_until_serving(url, server):
                raise SystemExit(f"server did not answer at {url}")
        with urllib.request.urlopen(base + PAGE) as response:  # noqa: S310 - loopback only
            etag = response.headers["ETag"]
            size = len(response.read())
        print(f"page: {size} bytes, ETag {etag}; wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} rounds")
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for name, path, headers in [
                ("page 200", PAGE, {}),
                ("static 200", STATIC, {}),
                ("page 304", PAGE, {"If-None-Match": etag}),
                ("static 304", STATIC, {"If-None-Match": etag}),
            ]:
                results.setdefault(name, []).append(_wrk(base + path, args.duration, args.connections, headers))
        best = {name: max(runs, key=lambda r: r["rps"]) for name, runs in results.items()}
        print(f"{'route':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
        for name, r in best.items():
            print(f"{name:<12}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['errors']:>8.0f}")
        for status, target in (("200", 0.8), ("304", 0.9)):
            ratio = best[f"page {status}"]["rps"] / best[f"static {status}"]["rps"]
            print(f"ratio page/static {status}: {ratio:.2f} (target >= {target})")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
