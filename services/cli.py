"""The ``liaison`` command line: serve, migrate, seed, and manage tokens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from services.cli_support import (
    LiaisonGroup,
    console,
    ensure_port_free,
    errors,
    pass_settings,
    print_json,
    print_table,
    redacted,
    require_database,
    run_with_db,
    wait_until_serving,
)
from services.content.i18n import cli_gettext as _
from services.content.i18n import cli_ngettext as ngettext
from services.content.settings import Settings
from services.content.translation_cli import export_command, import_command
from services.sync.cli import agent, sync


@click.group(cls=LiaisonGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Liaison: versioned bilingual embassy pages, facts and change events.

    Settings come from LIAISON_* environment variables (see .env.example). Errors are one line
    on standard error and exit code 1; LIAISON_DEBUG=true shows their traceback.
    """


main.add_command(sync)
main.add_command(agent)
main.add_command(export_command)
main.add_command(import_command)


@main.command()
@pass_settings
def migrate(settings: Settings) -> None:
    """Create the database if needed and bring it to the latest schema (the only command that creates it)."""
    from services.content.storage.migrate import upgrade

    upgrade(settings.database_url)
    console.print(
        _("database at the latest schema ({url})").format(url=redacted(settings.database_url)),
        style="green",
        markup=False,
    )


@main.command()
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Demo JSON file.")
def seed(path: Path | None) -> None:
    """Load the demo content (New Delhi's Internal Security page, fr and en). Safe to run twice."""
    from services.content.demo.loader import DEMO_FILE, load_demo

    with console.status(_("loading demo content")) as status:
        report = run_with_db(
            lambda db: load_demo(db, path or DEMO_FILE, lambda msg: status.update(_("loaded {item}").format(item=msg)))
        )
    counts = [
        ngettext("{count} site", "{count} sites", report.sites).format(count=report.sites),
        ngettext("{count} fact", "{count} facts", report.facts).format(count=report.facts),
        ngettext("{count} document", "{count} documents", report.documents).format(count=report.documents),
        ngettext("{count} revision", "{count} revisions", report.revisions).format(count=report.revisions),
    ]
    console.print(_("demo content ready: created {counts}").format(counts=", ".join(counts)), style="green")


@main.command()
@click.option("--host", help="Address to bind (default LIAISON_HOST).")
@click.option("--port", type=int, help="Port to bind (default LIAISON_PORT).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@pass_settings
def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """Serve the content API. Ends at once, with one line, when the port is taken or there is no database."""
    require_database(settings.database_url)
    ensure_port_free(host or settings.host, port or settings.port)
    from services.content.server import run_server

    run_server(
        "services.content.asgi:app_factory",
        host or settings.host,
        port or settings.port,
        workers=workers,
        log_format=settings.log_format,
    )


@main.command()
@click.option("--site", default="in-new-delhi", show_default=True, help="Site whose demo agent runs.")
@click.option("--out", "out_dir", default="var/sites", show_default=True, help="Folder of the demo agent's files.")
@click.option(
    "--site-port",
    type=int,
    help="Port of the demo website on 127.0.0.1 (default 8080, or a free one when it is taken).",
)
@pass_settings
def dev(settings: Settings, site: str, out_dir: str, site_port: int | None) -> None:
    """Run the content service, the relay, one demo site agent and its demo website together (what `make run` starts).

    Stops them all on Ctrl-C or SIGTERM. Without Redis the content service still
    serves and records changes; the relay says it is waiting and catches up later.
    """
    import signal
    import time

    from services.content.domain.errors import NotFound
    from services.sync.demo_site import DEFAULT_PORT, aim_demo_site

    # Checked here, before anything starts: another server on the port would answer the health check below.
    require_database(settings.database_url)
    ensure_port_free(settings.host, settings.port)
    if site_port is not None:
        ensure_port_free("127.0.0.1", site_port)
    port = site_port or _free_or_any("127.0.0.1", DEFAULT_PORT)
    website = f"http://127.0.0.1:{port}"
    try:
        # The seeded site names port 8080: on another port, its renders must link there instead.
        default_locale = run_with_db(lambda db: aim_demo_site(db, site, website + "/"), settings)
    except NotFound:
        default_locale = None
    command = [sys.executable, "-m", "services.cli"]
    target = f"{out_dir}/{site}"
    site_command = [*command, "demo-site", "--out", target, "--port", str(port)]
    children = {
        "content": subprocess.Popen([*command, "serve"]),  # noqa: S603 - our own interpreter and CLI
        "relay": subprocess.Popen([*command, "sync", "run"]),  # noqa: S603
        "website": subprocess.Popen(  # noqa: S603
            site_command + (["--default-locale", default_locale] if default_locale else [])
        ),
    }
    # The agent starts once the API answers: otherwise its first fetches fail and it logs retries.
    if not wait_until_serving(f"{settings.public_url}/health/live", children["content"]):
        if children["content"].poll() is not None:
            for name in ("relay", "website"):
                children[name].terminate()
                children[name].wait()
            raise click.ClickException(
                _("the content service exited with code {code} before serving; see its message above").format(
                    code=children["content"].returncode
                )
            )
        console.print(_("the content service is not answering yet; the site agent will retry"), style="yellow")
    children["agent"] = subprocess.Popen([*command, "agent", "--site", site, "--out", target])  # noqa: S603
    console.print(
        _(
            "Liaison is up: API {api}, docs {docs}, demo website {website}, site agent files in {folder} (Ctrl-C stops)"
        ).format(
            api=f"{settings.public_url}/v1/sites",
            docs=f"{settings.public_url}/schema",
            website=f"{website}/",
            folder=f"{target}/",
        ),
        style="green",
        markup=False,
    )
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(child.poll() is None for child in children.values()):
        time.sleep(0.2)
    for name, child in children.items():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        elif not stopping:
            console.print(_("{name} exited with code {code}").format(name=name, code=child.returncode), style="red")
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()


def _free_or_any(host: str, port: int) -> int:
    """``port`` when nothing listens on it, else a free port the system picks."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            probe.bind((host, 0))
        chosen: int = probe.getsockname()[1]
        return chosen


@main.command("demo-site")
@click.option(
    "--out",
    "folder",
    default="var/sites/in-new-delhi",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The site agent's folder.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port to bind.")
@click.option("--default-locale", help="Locale whose index / redirects to (default: the first with one).")
def demo_site(folder: Path, host: str, port: int, default_locale: str | None) -> None:
    """Serve a site agent's folder read-only: the demo website of `liaison dev`. Dot-files are never served."""
    ensure_port_free(host, port)
    from services.sync.demo_site import serve

    serve(folder, host, port, default_locale)


@main.group()
def schemas() -> None:
    """The JSON Schema files of the public contracts (events, change feed, page render)."""


@schemas.command("export")
def schemas_export() -> None:
    """Write schemas/*.schema.json from the msgspec contracts."""
    from schemas.export import export

    for path in export():
        console.print(_("wrote {path}").format(path=path))


@main.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@click.option("--name", required=True, help="Who or what holds the token.")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "editor", "translator", "reader"]), help="What it may do."
)
@click.option("--site", "sites", multiple=True, help="A site it is limited to (repeat; default: all sites).")
@click.option("--locale", "locales", multiple=True, help="A locale a translator is limited to (repeat).")
def token_create(name: str, role: str, sites: tuple[str, ...], locales: tuple[str, ...]) -> None:
    """Create a token. Its secret is printed once and never stored."""
    from services.content.usecases.tokens import create_token

    issued = run_with_db(lambda db: create_token(db, name, role, list(sites) or None, list(locales) or None))
    errors.print(
        _("token {id} created for '{name}' ({role}); it will not be shown again:").format(
            id=issued.token.id, name=name, role=role
        ),
        markup=False,
    )
    click.echo(issued.secret)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array, RFC 3339 times) instead of a table.")
def token_list(as_json: bool) -> None:
    """List tokens (ids, names, roles, scopes; never secrets). Piped, the table is tab-separated."""
    from services.content.usecases.tokens import list_tokens

    found = run_with_db(list_tokens)
    if as_json:
        print_json(found)
        return
    print_table(
        [_("id"), _("name"), _("role"), _("sites"), _("locales"), _("created"), _("revoked")],
        [
            [
                str(t.id),
                t.name,
                t.role,
                ", ".join(t.sites) if t.sites else _("all sites"),
                ", ".join(t.locales) if t.locales else _("all locales"),
                t.created_at.strftime("%Y-%m-%d %H:%M"),
                t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else "",
            ]
            for t in found
        ],
    )


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by id; it stops working at once."""
    from services.content.usecases.tokens import revoke_token

    run_with_db(lambda db: revoke_token(db, token_id))
    console.print(_("token {id} revoked").format(id=token_id))


if __name__ == "__main__":
    sys.exit(main())
