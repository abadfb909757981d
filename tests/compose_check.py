"""`make compose-test`: the compose stack, really started, checked from the host, then removed.

Not part of `make test`: it needs a Docker engine and Compose v2.24 or later, and takes a few
minutes. It runs its own Compose project (``liaison-compose-test``) on free host ports, so a
stack of yours (project ``liaison``, ports 8000 and 8080) is never touched, and it always takes
its project down with its volumes at the end, whatever happened.

1. builds the image (once: one service has ``build:``) and ``up --wait``: every service
   healthy, the one-shot ``migrate`` and ``seed`` exited with 0;
2. the demo page through the gateway, and the same page through the demo site (the agent's
   ``<slug>.<locale>.html``); a dot-file through the site is refused;
3. a fact changed through the gateway with a token made by ``liaison token create`` in the
   ``content`` container, polled through the site until its file shows the new value;
4. ``up --scale content=3 --wait``: requests through the gateway all answered, by more than one
   replica (each replica's access log names the request ids it answered);
5. ``down`` (volumes kept) then ``up --wait``: the changed fact is still there, in the API and
   in the site's file; then ``down -v``.

One line per check, with its figures; exit status 1 on the first failure.

    .venv/bin/python -m tests.compose_check     # or: make compose-test
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "liaison-compose-test"
SITE = "in-new-delhi"
SLUG = "internal-security-section"
FACT = "/v1/facts/global/network.embassy_count"
WAIT_TIMEOUT = 300
FACT_DEADLINE = 30.0
# The agent's state, a name like its temporary files', and its spare folder: the site refuses all.
DOT_FILES = ("/.liaison-agent.json", "/%2Eliaison-agent.json", "/.liaison-spare/")
SCALE_DEADLINE = 60.0


class CheckFailed(Exception):
    """A check did not hold; the message says what was expected and what came."""


def free_port() -> int:
    """A TCP port free on the host right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Stack:
    """The test's own Compose project, run with the repository's docker-compose.yml."""

    def __init__(self) -> None:
        self.gateway_port = free_port()
        self.site_port = free_port()
        self.env = {**os.environ, "GATEWAY_PORT": str(self.gateway_port), "SITE_PORT": str(self.site_port)}
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.site = f"http://127.0.0.1:{self.site_port}"

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``docker compose -p liaison-compose-test ARGS``, output captured."""
        command = ["docker", "compose", "--project-name", PROJECT, *args]
        result = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise CheckFailed(f"`docker compose {' '.join(args)}` exited with {result.returncode}:\n{tail}")
        return result

    def up(self, *args: str) -> float:
        """``up -d --wait``; the seconds it took."""
        start = time.monotonic()
        self.compose("up", "--detach", "--wait", "--wait-timeout", str(WAIT_TIMEOUT), *args)
        return time.monotonic() - start

    def containers(self) -> list[dict[str, Any]]:
        """Every container of the project, as ``docker compose ps -a --format json`` lists them."""
        out = self.compose("ps", "--all", "--format", "json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def report(name: str, text: str) -> None:
    print(f"ok   {name:<22} {text}", flush=True)


def poll(what: str, deadline: float, probe: Callable[[], bool]) -> float:
    """Call ``probe`` until it returns True; the seconds it took, or CheckFailed after ``deadline``."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        if probe():
            return time.monotonic() - start
        time.sleep(0.1)
    raise CheckFailed(f"{what}: not within {deadline:.0f} s")


def check_build(stack: Stack) -> None:
    config = json.loads(stack.compose("config", "--format", "json").stdout)
    builders = sorted(name for name, service in config["services"].items() if "build" in service)
    start = time.monotonic()
    result = stack.compose("build")
    out = result.stdout + result.stderr
    built = re.findall(r"^\s*(\S+)\s+Built\s*$", out, re.MULTILINE)
    if len(builders) != 1:
        raise CheckFailed(f"services with build: {builders}, expected exactly one")
    images = {service["image"] for service in config["services"].values() if "build" in service}
    users = sorted(name for name, service in config["services"].items() if service.get("image") in images)
    report(
        "build",
        f"{', '.join(images)} built by {builders[0]} only ({', '.join(built) or 'cached'} reported Built), "
        f"used by {len(users)} services: {', '.join(users)} ({time.monotonic() - start:.0f} s)",
    )


def check_healthy(stack: Stack, when: str) -> None:
    healthy: list[str] = []
    completed: list[str] = []
    for container in stack.containers():
        name, state, health = container["Name"], container["State"], container.get("Health", "")
        short = name.removeprefix(f"{PROJECT}-")
        if container["Service"] in {"migrate", "seed"}:
            if state != "exited" or container.get("ExitCode") != 0:
                raise CheckFailed(f"{short}: {state}, exit code {container.get('ExitCode')}, expected exited 0")
            completed.append(short)
        elif state == "running" and health == "healthy":
            healthy.append(short)
        else:
            raise CheckFailed(f"{short}: {state} {health or '(no health check)'}, expected running and healthy")
    listed = ", ".join(sorted(healthy))
    report(f"healthy {when}", f"{len(healthy)} healthy ({listed}); exited 0: {', '.join(completed)}")


def check_page(stack: Stack, client: httpx.Client) -> None:
    for locale in ("fr", "en"):
        start = time.monotonic()
        api = client.get(f"{stack.gateway}/v1/sites/{SITE}/pages/{SLUG}", params={"locale": locale})
        api_ms = (time.monotonic() - start) * 1000
        if api.status_code != 200:
            raise CheckFailed(f"gateway page {locale}: {api.status_code}")
        render = api.json()
        start = time.monotonic()
        site = client.get(f"{stack.site}/{SLUG}.{locale}.html")
        site_ms = (time.monotonic() - start) * 1000
        if site.status_code != 200:
            raise CheckFailed(f"site page {SLUG}.{locale}.html: {site.status_code}")
        # The agent's file holds the render's HTML (alone today, or inside a complete page).
        if render["html"] not in site.text:
            raise CheckFailed(f"site page {SLUG}.{locale}.html does not hold the gateway's render")
        report(
            f"page {locale}",
            f"gateway 200 revision {render['revision']} ETag {api.headers['etag']} ({api_ms:.0f} ms); "
            f"site {SLUG}.{locale}.html 200, {len(site.content)} bytes, holds that render's html ({site_ms:.0f} ms)",
        )
    statuses = {path: client.get(f"{stack.site}{path}").status_code for path in DOT_FILES}
    if any(status not in {403, 404} for status in statuses.values()):
        raise CheckFailed(f"dot-files through the site: {statuses}, expected 403 or 404")
    report("dot-files", ", ".join(f"{path} {status}" for path, status in statuses.items()))


def change_fact(stack: Stack, client: httpx.Client) -> int:
    token = stack.compose(
        "exec", "-T", "content", "liaison", "token", "create", "--name", "compose-test", "--role", "editor"
    ).stdout.strip()
    current = client.get(f"{stack.gateway}{FACT}")
    before: int = current.json()["value"]["value"]
    value = before + random.randint(1000, 8999)
    body = {"value": {"type": "integer", "value": value}, "message": "compose test"}
    headers = {"Authorization": f"Bearer {token}", "If-Match": current.headers["etag"]}
    changed = client.put(f"{stack.gateway}{FACT}", json=body, headers=headers)
    if changed.status_code != 200:
        raise CheckFailed(f"PUT {FACT}: {changed.status_code} {changed.text}")
    shown = f"{value:,}"

    def in_file() -> bool:
        page = client.get(f"{stack.site}/{SLUG}.en.html")
        return page.status_code == 200 and shown in page.text

    seconds = poll(f"{SLUG}.en.html showing {shown}", FACT_DEADLINE, in_file)
    report(
        "fact change",
        f"PUT {FACT} {before} -> {value}: 200 {changed.headers['etag']}; "
        f"site's {SLUG}.en.html shows {shown} after {seconds:.2f} s",
    )
    return value


def check_scale(stack: Stack, client: httpx.Client) -> None:
    seconds = stack.up("--scale", "content=3")
    replicas = [c["Name"] for c in stack.containers() if c["Service"] == "content" and c.get("Health") == "healthy"]
    if len(replicas) != 3:
        raise CheckFailed(f"content replicas healthy after --scale content=3: {replicas}")
    marker = uuid.uuid4().hex[:12]
    sent: list[int] = []

    def answered_by_several() -> bool:
        for _ in range(10):
            response = client.get(
                f"{stack.gateway}/v1/sites/{SITE}/pages/{SLUG}",
                params={"locale": "fr"},
                headers={"X-Request-ID": f"{marker}-{len(sent)}"},
            )
            sent.append(response.status_code)
            if response.status_code != 200:
                raise CheckFailed(f"request {len(sent)} through the gateway: {response.status_code}")
        return len(answering(stack, marker)) > 1

    poll("requests answered by more than one content replica", SCALE_DEADLINE, answered_by_several)
    counts = answering(stack, marker)
    report(
        "scale content=3",
        f"up --scale content=3 --wait {seconds:.0f} s; {len(sent)} requests through the gateway, all 200, "
        f"answered by {len(counts)} replicas (requests in each one's access log): "
        + ", ".join(f"{name} {count}" for name, count in sorted(counts.items())),
    )


def answering(stack: Stack, marker: str) -> dict[str, int]:
    """How many of the requests tagged ``marker`` each content replica logged."""
    counts: dict[str, int] = {}
    for line in stack.compose("logs", "--no-color", "content").stdout.splitlines():
        prefix, _, rest = line.partition("|")
        if marker in rest:
            counts[prefix.strip()] = counts.get(prefix.strip(), 0) + 1
    return counts


def check_restart_keeps_data(stack: Stack, client: httpx.Client, value: int) -> None:
    start = time.monotonic()
    stack.compose("down")
    down = time.monotonic() - start
    up = stack.up()
    check_healthy(stack, "after down/up")
    fact = client.get(f"{stack.gateway}{FACT}").json()
    if fact["value"]["value"] != value:
        raise CheckFailed(f"after down and up the fact is {fact['value']['value']}, expected {value}")
    page = client.get(f"{stack.site}/{SLUG}.en.html")
    if f"{value:,}" not in page.text:
        raise CheckFailed(f"after down and up {SLUG}.en.html does not show {value:,}")
    report(
        "down, up: data kept",
        f"down {down:.0f} s, up --wait {up:.0f} s; fact still {value} (version {fact['version']}), "
        f"site's {SLUG}.en.html still shows {value:,}",
    )


def main() -> int:
    """Run every check in order; 0 when all hold, 1 at the first that does not."""
    stack = Stack()
    print(f"compose project {PROJECT}: gateway on {stack.gateway}, site on {stack.site}", flush=True)
    # Left over from an interrupted run: it is this test's own project, so remove it.
    stack.compose("down", "--volumes", "--remove-orphans")
    try:
        check_build(stack)
        seconds = stack.up()
        report("up --wait", f"{seconds:.0f} s")
        check_healthy(stack, "after up")
        with httpx.Client(timeout=10) as client:
            check_page(stack, client)
            value = change_fact(stack, client)
            check_scale(stack, client)
            check_restart_keeps_data(stack, client, value)
    except CheckFailed as failure:
        print(f"FAIL {failure}", flush=True)
        for container in stack.containers():
            if container.get("Health") == "unhealthy":
                inspect = ["docker", "inspect", "--format", "{{json .State.Health.Log}}", container["Name"]]
                checks = subprocess.run(inspect, capture_output=True, text=True, check=False).stdout
                print(f"health checks of {container['Name']}: {checks.strip()[-1500:]}", flush=True)
        logs = stack.compose("logs", "--no-color", "--tail", "20", check=False).stdout
        print("last log lines of the stack:\n" + logs, flush=True)
        return 1
    finally:
        start = time.monotonic()
        stack.compose("down", "--volumes", "--remove-orphans", check=False)
        left = stack.compose("ps", "--all", "--quiet", check=False).stdout.split()
        volumes = subprocess.run(
            ["docker", "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={PROJECT}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        print(
            f"ok   {'down -v':<22} {time.monotonic() - start:.0f} s; "
            f"{len(left)} containers and {len(volumes)} volumes of {PROJECT} left",
            flush=True,
        )
    print("compose test passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
