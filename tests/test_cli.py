"""The ``liaison`` command line as a user meets it: run in subprocesses, from other folders, with parts down.

Every error is one line that says what to do; no command but ``migrate`` creates a database; the help
loads none of the heavy libraries; piped output is plain; the language follows the environment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.content.i18n import system_locale
from services.content.settings import Settings
from services.sync.agent_state import StateFile
from tests.sync_support import LIAISON, free_port, test_redis_url

HEAVY = ("sqlalchemy", "aiohttp", "redis", "litestar", "granian", "uvicorn")
BOX_DRAWING = set("─━│┃┌┏┐┓└┗┘┛├┣┤┫┬┳┴┻┼╋╇╈╀╂╃╄╅╆╡╞═║╭╮╯╰")


def clean_env(**settings: str) -> dict[str, str]:
    """The test's environment without any LIAISON_* or locale variable, plus ``settings``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LIAISON_", "LC_")) and name not in ("LANG", "LANGUAGE")
    }
    env.update(LANG="C.UTF-8", COLUMNS="80", **settings)
    return env


def liaison(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``liaison ARGS`` in ``cwd``, its output piped (not a terminal)."""
    return subprocess.run(
        [*LIAISON, *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The command failed with exit code 1 and a single line on standard error naming ``words``."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder that is not the project's: no var/, no database."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite database file, shared by the tests of this module that only read it."""
    folder = tmp_path_factory.mktemp("migrated")
    env = clean_env(LIAISON_DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'liaison.db'}")
    for command in (["migrate"], ["seed"]):
        result = liaison(*command, cwd=folder, env=env)
        assert result.returncode == 0, result.stderr
    return folder / "liaison.db"


def database_env(path: Path, **settings: str) -> dict[str, str]:
    """Environment pointing at the SQLite database ``path``."""
    return clean_env(LIAISON_DATABASE_URL=f"sqlite+aiosqlite:///{path}", **settings)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    return free_port()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by another listener for the test's duration."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


# -- help: every command has one, and it loads nothing heavy ------------------------------------


def test_every_command_has_a_help_that_loads_no_heavy_library(elsewhere: Path) -> None:
    # Each command's --help in turn, in one fresh interpreter: what it imported after each one.
    code = """
import json, sys
import click
from services.cli import main

def walk(command, path):
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, [*path, name])

report = []
for path in walk(main, []):
    code = main.main([*path, "--help"], prog_name="liaison", standalone_mode=False)
    report.append({"path": path, "code": code, "heavy": sorted(m for m in HEAVY if m in sys.modules)})
print(json.dumps(report), file=sys.stderr)
""".replace("HEAVY", repr(HEAVY))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stderr.strip().splitlines()[-1])
    paths = [" ".join(entry["path"]) for entry in report]
    assert {"", "token", "token create", "token list", "sync", "sync status", "sync replay", "agent", "dev"} <= set(
        paths
    )
    assert len(paths) >= 17
    for entry in report:
        assert entry["code"] == 0, entry
        assert entry["heavy"] == [], f"`liaison {' '.join(entry['path'])} --help` imported {entry['heavy']}"
    assert result.stdout.count("Usage: liaison") == len(report)
    assert not (elsewhere / "var").exists()


@pytest.mark.parametrize("args", [["--help"], ["token", "--help"], ["sync", "--help"], ["schemas", "--help"]])
def test_help_in_a_fresh_process_imports_no_heavy_module(args: list[str], elsewhere: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "services.cli", *args],
        cwd=elsewhere,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: " in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import")}
    assert "click" in imported, "importtime output was read"
    assert not {name for name in imported if name.split(".")[0] in HEAVY}


def test_help_works_whatever_the_settings_and_a_command_says_which_one_is_wrong(elsewhere: Path) -> None:
    env = clean_env(LIAISON_PROT="8001")
    assert liaison("token", "list", "--help", cwd=elsewhere, env=env).returncode == 0
    assert_one_line_error(liaison("token", "list", cwd=elsewhere, env=env), "unknown setting LIAISON_PROT")


# -- the database: only migrate creates it; the others say what to do ----------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["token", "list"],
        ["token", "revoke", "1"],
        ["seed"],
        ["serve"],
        ["dev"],
        ["sync", "status"],
        ["sync", "replay", "--site", "in-new-delhi", "--from", "1"],
        ["export", "--document", "1", "--locale", "en"],
    ],
)
def test_a_command_run_from_another_folder_creates_no_database_and_says_to_migrate(
    args: list[str], elsewhere: Path
) -> None:
    line = assert_one_line_error(liaison(*args, cwd=elsewhere), "liaison migrate")
    assert str(elsewhere / "var" / "liaison.db") in line
    assert not (elsewhere / "var").exists()


def test_migrate_creates_the_database_where_it_is_expected(elsewhere: Path) -> None:
    result = liaison("migrate", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "var" / "liaison.db").is_file()
    listed = liaison("token", "list", cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr


def test_a_database_without_the_schema_says_to_migrate(elsewhere: Path) -> None:
    empty = elsewhere / "empty.db"
    empty.touch()
    line = assert_one_line_error(liaison("token", "list", cwd=elsewhere, env=database_env(empty)), "liaison migrate")
    assert "no such table" in line


def test_an_unreachable_postgresql_is_one_line(elsewhere: Path, closed_port: int) -> None:
    env = clean_env(LIAISON_DATABASE_URL=f"postgresql+asyncpg://liaison:secret@127.0.0.1:{closed_port}/liaison")
    line = assert_one_line_error(liaison("token", "list", cwd=elsewhere, env=env), "LIAISON_DATABASE_URL")
    assert f"127.0.0.1:{closed_port}/liaison (Connection refused)" in line
    assert "secret" not in line


def test_a_refused_request_is_one_line(migrated: Path, elsewhere: Path) -> None:
    result = liaison("token", "revoke", "999999", cwd=elsewhere, env=database_env(migrated))
    assert_one_line_error(result, "999999")


# -- Redis down ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["sync", "replay", "--site", "in-new-delhi", "--from", "1"], ["sync", "check"]], ids=["replay", "check"]
)
def test_redis_down_is_one_line_naming_its_url(
    args: list[str], migrated: Path, elsewhere: Path, closed_port: int
) -> None:
    url = f"redis://127.0.0.1:{closed_port}/0"
    env = database_env(migrated, LIAISON_REDIS_URL=url, LIAISON_REDIS_SOCKET_TIMEOUT="1")
    assert_one_line_error(
        liaison(*args, cwd=elsewhere, env=env),
        f"Redis is unreachable at {url} (Connection refused)",
        "LIAISON_REDIS_URL",
    )


def test_debug_shows_the_traceback(migrated: Path, elsewhere: Path, closed_port: int) -> None:
    env = database_env(migrated, LIAISON_REDIS_URL=f"redis://127.0.0.1:{closed_port}/0", LIAISON_DEBUG="true")
    result = liaison("sync", "replay", "--site", "in-new-delhi", "--from", "1", cwd=elsewhere, env=env)
    assert result.returncode == 1
    assert "Traceback" in result.stderr


# -- the port ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["serve"], ["dev"]])
def test_a_taken_port_is_one_line_before_anything_starts(
    args: list[str], migrated: Path, elsewhere: Path, taken_port: int
) -> None:
    env = database_env(migrated, LIAISON_PORT=str(taken_port))
    result = liaison(*args, cwd=elsewhere, env=env, timeout=60)
    assert_one_line_error(result, f"port {taken_port}", "already in use", "LIAISON_PORT")
    assert "Liaison is up" not in result.stdout


def test_the_public_url_follows_host_and_port_unless_set() -> None:
    assert Settings.from_env({"LIAISON_PORT": "8123"}).public_url == "http://127.0.0.1:8123"
    wildcard = {"LIAISON_HOST": "0.0.0.0", "LIAISON_PORT": "81"}  # noqa: S104 - a setting, not a bind
    assert Settings.from_env(wildcard).public_url == "http://127.0.0.1:81"
    assert Settings.from_env({"LIAISON_HOST": "::1"}).public_url == "http://[::1]:8000"
    assert Settings.from_env({"LIAISON_PUBLIC_URL": ""}).public_url == "http://127.0.0.1:8000"
    given = {"LIAISON_PORT": "8123", "LIAISON_PUBLIC_URL": "https://content.example"}
    assert Settings.from_env(given).public_url == "https://content.example"


@pytest.mark.redis
def test_dev_on_another_port_prints_its_url_and_its_agent_reaches_it(migrated: Path, tmp_path: Path) -> None:
    test_redis_url()
    port = free_port()
    # A long folder: the "Liaison is up" line is wider than 80 columns and must stay one line when piped.
    out = tmp_path / ("a-folder-with-a-long-name-" * 3) / "sites"
    database = tmp_path / "dev.db"
    database.write_bytes(migrated.read_bytes())
    env = database_env(
        database,
        LIAISON_PORT=str(port),
        LIAISON_REDIS_URL=test_redis_url(),
        LIAISON_STREAM_PREFIX=f"test:{uuid.uuid4().hex[:8]}:events:",
    )
    log = tmp_path / "dev.out"
    with log.open("wb") as handle:
        dev = subprocess.Popen(
            [*LIAISON, "dev", "--out", str(out)], cwd=tmp_path, env=env, stdout=handle, stderr=handle
        )
        try:
            page = out / "in-new-delhi" / "internal-security-section.fr.json"
            deadline = time.monotonic() + 60
            while not page.exists() and dev.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert page.exists(), log.read_text()
            up = [line for line in log.read_text().splitlines() if "Liaison is up" in line]
            assert len(up) == 1, log.read_text()
            assert f"http://127.0.0.1:{port}/v1/sites" in up[0]
            assert f"{out}/in-new-delhi/" in up[0]
            assert "(Ctrl-C stops)" in up[0]
            assert len(up[0]) > 80
            render = json.loads(page.read_text())
            assert f"127.0.0.1:{port}/" in json.dumps(render["alternates"])
        finally:
            dev.send_signal(signal.SIGTERM)
            dev.wait(timeout=60)


# -- piped output: plain columns, --json ---------------------------------------------------------


def test_token_list_piped_is_plain_columns_and_json(tmp_path: Path, migrated: Path) -> None:
    database = tmp_path / "tokens.db"
    database.write_bytes(migrated.read_bytes())
    env = database_env(database)
    name = "a token holder whose name is much longer than any column of an eighty-column table could hold"
    created = liaison(
        "token", "create", "--name", name, "--role", "editor", "--site", "in-new-delhi", cwd=tmp_path, env=env
    )
    assert created.returncode == 0, created.stderr

    listed = liaison("token", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert not BOX_DRAWING & set(listed.stdout)
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t") == ["id", "name", "role", "sites", "locales", "created", "revoked"]
    assert [row.split("\t")[1:5] for row in rows] == [[name, "editor", "in-new-delhi", "all locales"]]

    as_json = liaison("token", "list", "--json", cwd=tmp_path, env=env)
    assert as_json.returncode == 0, as_json.stderr
    (token,) = json.loads(as_json.stdout)
    assert token["name"] == name
    assert token["sites"] == ["in-new-delhi"]
    assert token["revoked_at"] is None
    assert dt.datetime.fromisoformat(token["created_at"]).tzinfo is not None


@pytest.mark.redis
def test_sync_status_piped_is_plain_columns_and_json(migrated: Path, elsewhere: Path) -> None:
    env = database_env(
        migrated, LIAISON_REDIS_URL=test_redis_url(), LIAISON_STREAM_PREFIX=f"test:{uuid.uuid4().hex[:8]}:events:"
    )
    status = liaison("sync", "status", cwd=elsewhere, env=env)
    assert status.returncode == 0, status.stderr
    assert not BOX_DRAWING & set(status.stdout)
    summary, header, *rows = status.stdout.splitlines()
    assert summary.startswith("outbox backlog:")
    assert header.split("\t")[:3] == ["site", "sequenced", "relayed"]
    assert {row.split("\t")[0] for row in rows} >= {"in-new-delhi", "np-kathmandu"}
    assert all(len(row.split("\t")) == 8 for row in rows)

    as_json = liaison("sync", "status", "--json", cwd=elsewhere, env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert {site["site"] for site in json.loads(as_json.stdout)["sites"]} >= {"in-new-delhi", "np-kathmandu"}


# -- the agent's journal and state ---------------------------------------------------------------


@pytest.mark.redis
def test_the_agent_journal_writes_rfc_3339_times(migrated: Path, tmp_path: Path) -> None:
    port = free_port()
    env = database_env(
        migrated,
        LIAISON_PORT=str(port),
        LIAISON_REDIS_URL=test_redis_url(),
        LIAISON_STREAM_PREFIX=f"test:{uuid.uuid4().hex[:8]}:events:",
    )
    journal, out = tmp_path / "journal.log", tmp_path / "site"
    server = subprocess.Popen([*LIAISON, "serve"], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    agent = subprocess.Popen(
        [*LIAISON, "agent", "--site", "in-new-delhi", "--out", str(out), "--journal", str(journal)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (journal.exists() and journal.read_text().count("\n") >= 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        lines = journal.read_text().splitlines()
        assert lines, "the agent wrote its journal"
    finally:
        for process in (agent, server):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    for line in lines:
        _sequence, _slug, _locale, _revision, published, _etag, written = line.split(" ")
        for moment in (published, written):
            assert moment.endswith("Z"), line
            assert dt.datetime.fromisoformat(moment).utcoffset() == dt.timedelta(0), line


def test_an_agent_state_file_of_an_older_agent_is_still_read(tmp_path: Path) -> None:
    (tmp_path / StateFile.NAME).write_text(
        json.dumps(
            {
                "site": "in-new-delhi",
                "last_sequence": 7,
                "pages": {"home.fr": {"revision": 2, "etag": '"abc"', "sequence": 7, "published_at": 1767225600.25}},
            }
        )
    )
    state = StateFile(tmp_path, "in-new-delhi").load()
    assert state.last_sequence == 7
    assert state.pages["home.fr"].published_at == dt.datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=dt.UTC)
    StateFile(tmp_path, "in-new-delhi").save(state)
    saved = json.loads((tmp_path / StateFile.NAME).read_text())
    assert saved["pages"]["home.fr"]["published_at"] == "2026-01-01T00:00:00.250000Z"


# -- the language --------------------------------------------------------------------------------


def test_the_cli_speaks_french_from_lang_without_the_system_locale(elsewhere: Path) -> None:
    # fr_FR.UTF-8 is not installed in slim images (nor, usually, here): Python then coerces LC_CTYPE to C.UTF-8.
    env = clean_env()
    env["LANG"] = "fr_FR.UTF-8"
    assert_one_line_error(liaison("token", "list", cwd=elsewhere, env=env), "pas de base de données", "liaison migrate")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "fr_FR.UTF-8", "LC_CTYPE": "C.UTF-8"}, "fr"),
        ({"LANG": "fr_CA.UTF-8@euro"}, "fr"),
        ({"LANG": "fr_FR.UTF-8", "LC_MESSAGES": "en_GB.UTF-8"}, "en"),
        ({"LANG": "fr_FR.UTF-8", "LC_MESSAGES": "en_GB.UTF-8", "LC_ALL": "fr_BE"}, "fr"),
        ({"LANG": "fr_FR.UTF-8", "LC_ALL": "C"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "de:fr:en"}, "fr"),
        ({"LANG": "C.UTF-8", "LANGUAGE": "fr"}, "fr"),
        ({"LANG": "C", "LANGUAGE": "fr"}, "en"),
        ({"LANGUAGE": "fr"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "fr_FR.UTF-8", "LANGUAGE": ""}, "fr"),
    ],
)
def test_the_cli_language_is_chosen_as_gettext_does(environ: dict[str, str], expected: str) -> None:
    assert system_locale(environ) == expected
