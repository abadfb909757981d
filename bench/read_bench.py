"""Read benchmark: the published seed page as production serves it, beside what the stack can do.

In one run, on a fresh demo database, wrk loads in turn, for 200s and for 304s (If-None-Match):

- ``production``: ``liaison serve`` as a subprocess with the compose file's settings (JSON logs,
  request ids, metrics and the access log on; its log goes to a file, as a container's does);
- ``bare granian``: a bare Litestar app answering the same bytes and headers, on the same server
  started the same way (``services.content.server.run_server``);
- ``bare uvicorn``: that bare app on uvicorn (no access log);
- ``nginx``: nginx sending the same bytes from a file (the embassy side's ceiling), when installed.

It prints requests per second, p50 and p99 for each, and the ratios to ``bare granian``. Each
figure is the best of ``--rounds`` runs of ``--duration`` seconds. Loopback only, bounded in time.

    python -m bench.read_bench --duration 5 --connections 16
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.params import FromPath

from services.cli_support import wait_until_serving

PAGE = "/v1/sites/in-new-delhi/pages/internal-security-section?locale=en"
# Headers every server adds by itself: not part of "the same bytes".
_OWN_HEADERS = {"content-length", "date", "server", "x-request-id", "connection", "keep-alive"}


def bare_app_factory() -> Litestar:
    """A bare Litestar app sending the page's bytes and headers (from ``BENCH_PAGE_DIR``), 304 on its ETag."""
    folder = Path(os.environ["BENCH_PAGE_DIR"])
    body = (folder / "body").read_bytes()
    headers: dict[str, str] = json.loads((folder / "headers.json").read_text())
    etag = headers["etag"]
    media_type = headers.pop("content-type")

    # Same route shape as the page (two path parameters), so routing costs the same.
    @get("/v1/sites/{site:str}/pages/{slug:str}")
    async def page(request: Request[Any, Any, Any], site: FromPath[str], slug: FromPath[str]) -> Response[bytes]:
        if request.headers.get("if-none-match") == etag:
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    return Litestar([page], logging_config=None)


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
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    if "50%" not in out:
        raise SystemExit("wrk printed no latency distribution:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
        "socket": 1.0 if errors else 0.0,
    }


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        if not wait_until_serving(url, process, within=60):
            raise SystemExit(f"{command[:4]} did not answer at {url}; see {log}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _nginx_config(prefix: Path, port: int, body: bytes) -> Path:
    (prefix / "html").mkdir()
    (prefix / "logs").mkdir()
    (prefix / "html" / "page.json").write_bytes(body)
    config = prefix / "nginx.conf"
    config.write_text(
        f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/scratch;
    proxy_temp_path {prefix}/scratch;
    fastcgi_temp_path {prefix}/scratch;
    uwsgi_temp_path {prefix}/scratch;
    scgi_temp_path {prefix}/scratch;
    sendfile on;
    tcp_nopush on;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            root {prefix}/html;
            default_type application/json;
            try_files /page.json =404;
            add_header Cache-Control "public, max-age=60";
        }}
    }}
}}
"""
    )
    return config


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each target, best kept (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each Python server (default 1)")
    parser.add_argument("--only", action="append", help="measure only this target (repeat); for profiling")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) and print its path")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="liaison-bench-"))
    env = {
        **os.environ,
        "LIAISON_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        # What docker-compose.yml and the Dockerfile set for the content service.
        "LIAISON_LOG_FORMAT": "json",
    }
    env.pop("LIAISON_REDIS_URL", None)  # a read touches neither Redis nor the relay
    liaison = [sys.executable, "-m", "services.cli"]
    subprocess.run([*liaison, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([*liaison, "seed"], env=env, check=True, capture_output=True, timeout=120)
    ports = {name: _free_port() for name in ("production", "bare granian", "bare uvicorn", "nginx")}
    env["LIAISON_PUBLIC_URL"] = f"http://127.0.0.1:{ports['production']}"
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        with ExitStack() as running:
            production = [*liaison, "serve", "--port", str(ports["production"]), "--workers", str(args.workers)]
            running.enter_context(_process(production, env, workdir / "production.log", base["production"] + PAGE))
            with urllib.request.urlopen(base["production"] + PAGE) as response:  # noqa: S310 - loopback only
                body = response.read()
                headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in _OWN_HEADERS}
            etag = headers["etag"]
            page_dir = workdir / "page"
            page_dir.mkdir()
            (page_dir / "body").write_bytes(body)
            (page_dir / "headers.json").write_text(json.dumps(headers))
            bare_env = {**env, "BENCH_PAGE_DIR": str(page_dir)}
            granian = (
                "from services.content.server import run_server; "
                f"run_server('bench.read_bench:bare_app_factory', '127.0.0.1', {ports['bare granian']}, {args.workers})"
            )
            uvicorn = [
                *(sys.executable, "-m", "uvicorn", "bench.read_bench:bare_app_factory", "--factory"),
                *("--host", "127.0.0.1", "--port", str(ports["bare uvicorn"]), "--workers", str(args.workers)),
                *("--log-level", "warning", "--no-access-log"),
            ]
            commands = {"bare granian": [sys.executable, "-c", granian], "bare uvicorn": uvicorn}
            for name, command in commands.items():
                log = workdir / f"{name.replace(' ', '-')}.log"
                running.enter_context(_process(command, bare_env, log, base[name] + PAGE))
            etags = dict.fromkeys(base, etag)
            if shutil.which("nginx"):
                prefix = workdir / "nginx"
                prefix.mkdir()
                # Run as root, nginx serves files as an unprivileged user: let it read the page.
                workdir.chmod(0o755)
                (prefix / "scratch").mkdir()
                config = _nginx_config(prefix, ports["nginx"], body)
                command = ["nginx", "-p", str(prefix), "-c", str(config), "-g", "daemon off;"]
                running.enter_context(_process(command, env, prefix / "logs" / "stdout.log", base["nginx"] + PAGE))
                with urllib.request.urlopen(base["nginx"] + PAGE) as response:  # noqa: S310 - loopback only
                    etags["nginx"] = response.headers["ETag"]
            else:
                print("nginx is not installed (Debian: apt-get install nginx): its row is left out")
                del base["nginx"]
            targets = [name for name in base if not args.only or name in args.only]
            print(
                f"page: {len(body)} bytes, ETag {etag}; wrk -t1 -c{args.connections} -d{args.duration}s, "
                f"best of {args.rounds}; {args.workers} worker(s) per Python server"
            )
            results: dict[tuple[str, str], list[dict[str, float]]] = {}
            for _ in range(args.rounds):
                for status in ("200", "304"):
                    for name in targets:
                        sent = {"If-None-Match": etags[name]} if status == "304" else {}
                        run = _wrk(base[name] + PAGE, args.duration, args.connections, sent)
                        results.setdefault((name, status), []).append(run)
    finally:
        if args.keep:
            print(f"work folder (logs): {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    best = {key: max(runs, key=lambda r: r["rps"]) for key, runs in results.items()}
    print(f"{'what answers':<16}{'status':>7}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for (name, status), r in best.items():
        print(f"{name:<16}{status:>7}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['errors']:>8.0f}")
    for status in ("200", "304"):
        reference = best.get(("bare granian", status))
        if reference is None:
            continue
        ratios = [
            f"{name} {best[(name, status)]['rps'] / reference['rps']:.2f}"
            for name in targets
            if name != "bare granian" and (name, status) in best
        ]
        print(f"ratio to bare granian, {status}: " + ", ".join(ratios) + "  (target: production >= 0.90)")


if __name__ == "__main__":
    main()
