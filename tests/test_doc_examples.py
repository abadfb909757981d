"""The examples of README.md and docs/*.md, run against a real server and compared with what they show.

How a document is run:

- Its fenced ```sh blocks are run in order, in ONE bash session per document (``set -euo
  pipefail``; an ``export`` carries over to the next block), from a fresh working folder where
  ``.venv`` is a link to the virtual environment running the tests. The session's environment
  names the test's database, Redis stream prefix and server (``LIAISON_DATABASE_URL``,
  ``LIAISON_HOST``, ``LIAISON_PORT``, ``LIAISON_PUBLIC_URL``): a fresh, migrated and seeded
  database, and a server started by the test on a free port (``liaison dev``, what ``make run``
  starts, for the README; ``liaison serve`` and ``liaison sync run`` for the others).
- The server is not on port 8000: every ``http://127.0.0.1:8000`` in the document, in commands
  and in shown outputs, is replaced by the test server's URL before anything is read. Likewise
  the demo website of ``liaison dev`` is not on port 8080: ``http://127.0.0.1:8080`` becomes the
  test's (``liaison dev --site-port``, which also points the demo site's address there).
- Under ``pipefail`` a pipe into a reader that stops early (``| head``) fails now and then (curl
  gets a write error once ``head`` has gone): examples cut output with ``sed -n 1,Np`` instead.
- A block's standard output and standard error are both its output, as a terminal shows them;
  the session has ``LANG=C.UTF-8`` (English messages) and ``COLUMNS=120`` (a wide terminal).

What is compared:

- The first fenced block after a run ``sh`` block (before the next ``sh`` block) is what that
  block printed. Later blocks before the next ``sh`` block are illustrations and are not
  compared, unless they name a file (below). A block whose output the document does not show
  must not print a problem (``"type":"urn:liaison:problem:…"``): ``curl -s`` exits 0 on a 403.
- ```json blocks: the output is read as JSON (one or more values) and each value shown must
  match, in order. An object matches when every key shown is present with a matching value
  (keys not shown are ignored). An array matches element by element, unless it shows ``…``:
  then the elements shown must appear in the real array in that order, others may sit between.
  ``…`` where a value would be matches any value; ``…`` inside a string matches any text.
- Plain ```, ```text and ```html blocks: when the output is an HTTP response (it starts with
  ``HTTP/``, as ``curl -i`` or ``-D -`` print), the status line shown must be equal, each header
  shown must be present with an equal value (``content-length`` only present: it moves with the
  timestamps in the body), and a body shown is compared as JSON (when it starts with ``{`` or
  ``[``) or as text. Otherwise the block is text: lines compared one by one (trailing spaces
  ignored); a line that is only ``…`` matches any number of lines, ``…`` in a line any text.
- Values that vary from run to run match any value of their kind, in JSON and in text: RFC 3339
  times, ``YYYY-MM-DD HH:MM[:SS]`` and ``HH:MM:SS`` times, HTTP dates, UUIDs and 32-hex-digit
  strings (page ETags, request ids). Everything else (ids, revision numbers, ``"r1"`` ETags,
  counts, texts) must be equal.

Markers, HTML comments on the line just before a block (visible in the Markdown source):

- ``<!-- not run: REASON -->`` before an ``sh`` block: it is not run (a synopsis, ``make``,
  docker, a tool the test cannot assume). An ``sh`` block with neither this marker nor a run
  fails the test, so nothing is skipped silently.
- ``<!-- not checked: REASON -->`` before an output block: the command runs, its output is not
  compared (it depends on timing).
- ``<!-- file: NAME -->`` before a block after a run ``sh`` block: the block is compared with the
  file NAME of the working folder as it was right after that ``sh`` block.
- ``<!-- before: DOC, up to the heading "HEADING" -->`` anywhere: the run ``sh`` blocks of DOC
  before that heading are run first, in the same session, without comparing their output (the
  document continues a state the other one built).

docs/production.md and docs/runbook.md are not run: see ``NOT_RUN``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from services.content.storage.database import Database
from tests.sync_support import Process, free_port, sync_env, test_redis_url, wait_http

ROOT = Path(__file__).resolve().parent.parent
DOC_PORT_URL = "http://127.0.0.1:8000"
DOC_SITE_URL = "http://127.0.0.1:8080"
SITE_PORT = "{site_port}"
"""In a command of `RUN`: the free port the test gives the demo website."""
ELISION = "…"

# Documents whose examples are run, and the liaison commands serving them.
RUN: dict[str, list[list[str]]] = {
    "README.md": [["dev", "--site-port", SITE_PORT]],
    "docs/consumer.md": [["serve"], ["sync", "run"]],
    "docs/problems.md": [["serve"]],
}
NOT_RUN = {
    "docs/production.md": "docker compose, PostgreSQL and a gateway: the production shape, not one local process",
    "docs/runbook.md": "operations on a broken production (killed relays, lost Redis data, restores)",
}

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>not run|not checked|file|before):\s*(?P<value>.*?)\s*-->\s*$")
BEFORE = re.compile(r'^(?P<doc>\S+), up to the heading "(?P<heading>[^"]+)"$')
HEADING = re.compile(r"^#+\s+(?P<title>.+?)\s*$")
HEADER = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9-]*):\s?(?P<value>.*)$")

# Values that differ on every run, each replaced by a placeholder of its kind before comparing.
VARYING = [
    ("<time>", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")),
    ("<http-date>", re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")),
    ("<time>", re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?")),
    ("<clock>", re.compile(r"\b\d{2}:\d{2}:\d{2}\b")),
    ("<uuid>", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")),
    ("<hex>", re.compile(r"\b[0-9a-f]{32}\b")),
]
HEADERS_PRESENT_ONLY = {"content-length"}
PROBLEM = '"type":"urn:liaison:problem:'


@dataclass
class Block:
    """One fenced block of a Markdown document."""

    lang: str
    text: str
    line: int
    marker: tuple[str, str] | None
    heading: str | None


@dataclass
class Step:
    """A run ``sh`` block and what the document shows it prints."""

    block: Block
    output: Block | None = None
    checked: bool = True
    files: list[tuple[str, Block]] = field(default_factory=list)


def read_blocks(text: str) -> Iterator[Block]:
    """The fenced blocks of a Markdown text, with the marker just before each and its section."""
    lines = text.splitlines()
    heading: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        title = HEADING.match(line)
        if title:
            heading = title["title"]
        fence = FENCE.match(line)
        if not fence:
            index += 1
            continue
        indent = len(fence["indent"])
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        mark = MARKER.match(previous)
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            # A block inside a list item is indented with the item: drop that indent, keep the rest.
            inside = lines[index][:indent]
            body.append(lines[index][indent:] if inside.isspace() or not inside else lines[index].lstrip())
            index += 1
        start = index - len(body)
        yield Block(fence["lang"], "\n".join(body), start, (mark["kind"], mark["value"]) if mark else None, heading)
        index += 1


def read_steps(text: str) -> list[Step]:
    """The document's run ``sh`` blocks with the blocks that show their output."""
    steps: list[Step] = []
    current: Step | None = None
    for block in read_blocks(text):
        kind = block.marker[0] if block.marker else None
        if block.lang == "sh":
            if kind == "not run":
                current = None
                continue
            current = Step(block)
            steps.append(current)
            continue
        if current is None:
            continue
        if kind == "file":
            current.files.append((block.marker[1] if block.marker else "", block))
        elif current.output is None and current.checked and not current.files:
            if kind == "not checked":
                current.checked = False
            else:
                current.output = block
    return steps


def read_before(text: str) -> tuple[str, str] | None:
    """The ``before`` marker of a document: the other document and the heading its run stops at."""
    for line in text.splitlines():
        mark = MARKER.match(line)
        if mark and mark["kind"] == "before":
            found = BEFORE.match(mark["value"])
            assert found, f"bad marker: {line}"
            return found["doc"], found["heading"]
    return None


def normalized(value: str) -> str:
    """``value`` with every varying part replaced by the placeholder of its kind."""
    for placeholder, pattern in VARYING:
        value = pattern.sub(placeholder, value)
    return value


def string_matches(shown: str, real: str) -> bool:
    """A shown string matches a real one; ``…`` in it matches any text."""
    parts = [re.escape(part) for part in normalized(shown).split(ELISION)]
    return re.fullmatch("(?s:.*)".join(parts), normalized(real)) is not None


def shown_json(text: str) -> list[Any]:
    """The JSON values a block shows, its elisions made explicit.

    A bare ``…`` where an object member would be is dropped; anywhere else (an array element, a
    value) it becomes the string ``"…"``, which matches any value and, in an array, lets other
    elements sit around the ones shown.
    """
    out: list[str] = []
    stack: list[str] = []
    in_string = escaped = False
    last = ""
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == ELISION:
            member = bool(stack) and stack[-1] == "{" and last in "{,"
            out.append(f'"{ELISION}":"{ELISION}"' if member else f'"{ELISION}"')
            last = '"'
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]":
            stack.pop()
        out.append(char)
        if not char.isspace():
            last = char
    return decode_all("".join(out))


def decode_all(text: str) -> list[Any]:
    """Every JSON value in ``text``, one after the other (raises ValueError when it is not JSON)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    index = 0
    text = text.strip()
    while index < len(text):
        value, index = decoder.raw_decode(text, index)
        values.append(value)
        while index < len(text) and text[index].isspace():
            index += 1
    return values


def json_mismatch(shown: Any, real: Any, path: str = "$") -> str | None:
    """Why ``real`` does not match ``shown`` (the first difference, with its path), or None."""
    if shown == ELISION:
        return None
    if isinstance(shown, dict):
        if not isinstance(real, dict):
            return f"{path}: expected an object, got {real!r}"
        for key, value in shown.items():
            if key == ELISION:
                continue
            if key not in real:
                return f"{path}: no key {key!r} in {sorted(real)}"
            if (why := json_mismatch(value, real[key], f"{path}.{key}")) is not None:
                return why
        return None
    if isinstance(shown, list):
        if not isinstance(real, list):
            return f"{path}: expected an array, got {real!r}"
        wanted = [item for item in shown if item != ELISION]
        if len(wanted) == len(shown):
            if len(shown) != len(real):
                return f"{path}: {len(real)} elements, the document shows {len(shown)}"
            for position, (item, got) in enumerate(zip(shown, real, strict=True)):
                if (why := json_mismatch(item, got, f"{path}[{position}]")) is not None:
                    return why
            return None
        position = 0
        for item in wanted:
            while position < len(real) and json_mismatch(item, real[position]) is not None:
                position += 1
            if position == len(real):
                return f"{path}: no element after the ones before matches {json.dumps(item, ensure_ascii=False)}"
            position += 1
        return None
    if isinstance(shown, str) and isinstance(real, str):
        return None if string_matches(shown, real) else f"{path}: {real!r}, the document shows {shown!r}"
    if shown != real or type(shown) is not type(real):
        return f"{path}: {real!r}, the document shows {shown!r}"
    return None


def text_mismatch(shown: str, real: str) -> str | None:
    """Why ``real`` text does not match ``shown`` line by line (``…`` lines and parts are wildcards)."""
    pattern = ""
    for line in shown.strip("\n").splitlines():
        line = normalized(line.rstrip())
        if line == ELISION:
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += "[^\n]*".join(re.escape(part) for part in line.split(ELISION)) + r"\n"
    lines = [normalized(line.rstrip()) for line in real.strip("\n").splitlines()]
    if re.fullmatch(pattern, "".join(line + "\n" for line in lines)):
        return None
    return "the output differs from the document"


def http_mismatch(shown: str, real: str) -> str | None:
    """Why an HTTP response printed by curl does not match the status, headers and body shown."""
    head, _, body = real.replace("\r\n", "\n").partition("\n\n")
    status, *header_lines = head.splitlines()
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        found = HEADER.match(line)
        if found:
            headers.setdefault(found["name"].lower(), []).append(found["value"])
    lines = shown.strip("\n").splitlines()
    if lines and lines[0].startswith("HTTP/"):
        if lines[0].strip() != status.strip():
            return f"status {status.strip()!r}, the document shows {lines[0]!r}"
        lines = lines[1:]
    while lines and (found := HEADER.match(lines[0])) and not lines[0].lstrip().startswith(("{", "[")):
        name, value = found["name"].lower(), found["value"].strip()
        if name not in headers:
            return f"no {name} header in {sorted(headers)}"
        if name not in HEADERS_PRESENT_ONLY and not any(string_matches(value, v.strip()) for v in headers[name]):
            return f"{name}: {headers[name]}, the document shows {value!r}"
        lines = lines[1:]
    while lines and lines[0].strip() in ("", ELISION):
        lines = lines[1:]
    shown_body = "\n".join(lines)
    if not shown_body.strip():
        return None
    if shown_body.lstrip().startswith(("{", "[")):
        return output_mismatch("json", shown_body, body)
    return text_mismatch(shown_body, body)


def output_mismatch(lang: str, shown: str, real: str) -> str | None:
    """Why ``real`` output does not match a block of language ``lang`` showing ``shown``."""
    if lang == "json":
        try:
            got = decode_all(real)
        except ValueError:
            return "the output is not JSON"
        expected = shown_json(shown)
        if len(got) != len(expected):
            return f"{len(got)} JSON values, the document shows {len(expected)}"
        for index, (item, value) in enumerate(zip(expected, got, strict=True)):
            if (why := json_mismatch(item, value, f"value {index + 1}")) is not None:
                return why
        return None
    if real.lstrip().startswith("HTTP/"):
        return http_mismatch(shown, real)
    return text_mismatch(shown, real)


def script(steps: list[Step], setup: list[Step], out: Path) -> str:
    """One bash script running the setup steps, then the steps, each block's output to its own file."""
    lines = ["set -euo pipefail"]
    for number, step in enumerate([*setup, *steps]):
        lines += ["{", step.block.text, f"}} > {out}/{number}.out 2>&1 < /dev/null"]
        for position, (name, _block) in enumerate(step.files):
            lines.append(f"cp -- {name} {out}/{number}.file{position}")
        lines.append(f": > {out}/{number}.ok")
    return "\n".join(lines) + "\n"


def document_env(database_url: str, port: int) -> dict[str, str]:
    """The environment of the server and of the session: this test's database, Redis prefix and port."""
    env = sync_env(database_url, test_redis_url(), port)
    env["LIAISON_HOST"] = "127.0.0.1"
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        env.pop(name, None)
    env["LANG"] = "C.UTF-8"  # the CLI speaks the language of LANG: the documents show English
    env["COLUMNS"] = "120"  # tables as a wide terminal shows them
    return env


def test_every_document_is_run_or_excluded_with_a_reason() -> None:
    documents = {"README.md", *(f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md"))}
    assert documents == set(RUN) | set(NOT_RUN)


@pytest.mark.parametrize("name", sorted(RUN))
def test_the_markers_are_well_formed(name: str) -> None:
    """A misspelt marker would silently run (or not skip) a block: each one must parse and fit its block."""
    text = (ROOT / name).read_text()
    for line in text.splitlines():
        if re.match(r"\s*<!--\s*(not run|not checked|file|before)\b", line):
            assert MARKER.match(line), f"{name}: malformed marker {line!r}"
    for block in read_blocks(text):
        where = f"{name}:{block.line}"
        known = {"", "sh", "json", "text", "html", "xml"}
        assert block.lang in known, f"{where}: a block of unknown language {block.lang!r}"
        if block.marker and block.marker[0] == "not run":
            assert block.lang == "sh", f"{where}: 'not run' is for sh blocks"
            assert block.marker[1], f"{where}: 'not run' needs a reason"


def test_the_matching_rules() -> None:
    assert json_mismatch(shown_json('{"a":1,…}')[0], {"a": 1, "b": 2}) is None
    assert json_mismatch(shown_json('{"a":[…,{"b":2},…]}')[0], {"a": [{"b": 1}, {"b": 2, "c": 3}]}) is None
    assert json_mismatch(shown_json('{"a":[{"b":2}]}')[0], {"a": [{"b": 2}, {"b": 3}]}) is not None
    assert json_mismatch(shown_json('{"a":"<p>…</p>"}')[0], {"a": "<p>x\ny</p>"}) is None
    assert json_mismatch(shown_json('{"t":"2026-11-27T09:29:03.809708Z"}')[0], {"t": "2027-01-01T00:00:00Z"}) is None
    assert json_mismatch(shown_json('{"n":4}')[0], {"n": 5}) is not None
    assert json_mismatch(shown_json('{"e":"\\"r1\\""}')[0], {"e": '"r2"'}) is not None
    assert text_mismatch("a\n…\nz", "a\nb\nc\nz\n") is None
    assert text_mismatch("token 1 created", "token 2 created") is not None
    response = 'HTTP/1.1 201 Created\r\netag: "r1"\r\ndate: x\r\n\r\n{"n":1,"m":2}'
    assert http_mismatch('HTTP/1.1 201 Created\netag: "r1"\n…\n{"n":1,…}', response) is None
    assert http_mismatch("HTTP/1.1 200 OK", response) is not None
    assert http_mismatch('etag: "r2"', response) is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUN))
def test_the_examples_print_what_the_document_shows(
    name: str, database_url: str, seeded: Database, tmp_path: Path
) -> None:
    port, site_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    # Only `liaison dev` serves the demo website; elsewhere the seeded address (port 8080) stays as it is.
    site_url = f"http://127.0.0.1:{site_port}" if any(SITE_PORT in args for args in RUN[name]) else DOC_SITE_URL
    text = (ROOT / name).read_text().replace(DOC_PORT_URL, url).replace(DOC_SITE_URL, site_url)
    steps = read_steps(text)
    assert steps, f"{name} runs no example"
    setup: list[Step] = []
    if before := read_before(text):
        other = (ROOT / before[0]).read_text().replace(DOC_PORT_URL, url).replace(DOC_SITE_URL, site_url)
        setup = [step for step in read_steps(other) if _before(step.block, other, before[1])]
        assert setup, f"{name}: nothing of {before[0]} comes before {before[1]!r}"

    work = tmp_path / "work"
    out = tmp_path / "outputs"
    work.mkdir()
    out.mkdir()
    venv = Path(sys.prefix)
    assert (venv / "bin" / "liaison").exists(), f"the tests run outside a virtual environment with liaison ({venv})"
    (work / ".venv").symlink_to(venv)
    env = document_env(database_url, port)
    commands = [[str(site_port) if arg == SITE_PORT else arg for arg in args] for args in RUN[name]]
    servers = [Process(args, env, tmp_path / f"{'-'.join(args)}.log", cwd=work) for args in commands]
    try:
        wait_http(f"{url}/health/live")
        run = subprocess.run(
            ["bash", "-c", script(steps, setup, out)],  # bash from PATH, as a reader runs it
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        for server in servers:
            server.terminate()
            server.close()

    failures: list[str] = []
    for number, step in enumerate(steps, start=len(setup)):
        where = f"{name}:{step.block.line}"
        printed = (out / f"{number}.out").read_text() if (out / f"{number}.out").exists() else None
        if printed is None:
            break
        if not (out / f"{number}.ok").exists():
            failures.append(
                f"{where}: the block failed (exit {run.returncode}):\n{step.block.text}\n--- output:\n{printed}"
            )
            break
        if step.output is None and step.checked and PROBLEM in printed:
            failures.append(f"{where}: the document shows no output, and the block got a problem:\n{printed}")
        if step.output is not None:
            why = output_mismatch(step.output.lang, step.output.text, printed)
            if why:
                failures.append(
                    f"{where}: {why}\n--- the document shows (line {step.output.line}):\n{step.output.text}\n"
                    f"--- the commands printed:\n{printed}"
                )
        for position, (file_name, block) in enumerate(step.files):
            content = (out / f"{number}.file{position}").read_text()
            why = output_mismatch(block.lang, block.text, content)
            if why:
                failures.append(f"{name}:{block.line}: {file_name}: {why}\n--- the file holds:\n{content}")
    if run.returncode != 0 and not failures:
        failures.append(f"{name}: the session failed (exit {run.returncode}): {run.stdout}{run.stderr}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def _before(block: Block, text: str, heading: str) -> bool:
    """Whether ``block`` comes before the heading titled ``heading`` in ``text``."""
    titles = [found["title"] if (found := HEADING.match(line)) else None for line in text.splitlines()]
    assert heading in titles, f"no heading {heading!r}"
    return block.line <= titles.index(heading)
