"""``liaison export`` and ``liaison import``: translation files on the command line.

Both work on the database directly, through the same use cases as the HTTP routes, as a
token-less administrator (whoever can run the command can read the database anyway).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from services.cli_support import run_with_db

if TYPE_CHECKING:
    from services.content.usecases.translation_files import FileFormat

FORMATS = ("po", "xliff")
"""`translation_files.FORMATS`, spelled out so that ``--help`` need not import the use case (and SQLAlchemy)."""


@click.command("export")
@click.option("--document", "document_id", type=int, required=True, help="Document id.")
@click.option("--locale", required=True, help="Target locale (a translation of the document's source).")
@click.option("--format", "file_format", type=click.Choice(FORMATS), default="po", show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="File to write (default: stdout)."
)
def export_command(document_id: int, locale: str, file_format: FileFormat, out: Path | None) -> None:
    """Export a document's source for translators into LOCALE, as PO or XLIFF 2.0.

    One entry per segment (title, heading, paragraph, list item), existing translations filled
    in, segments whose source changed since the translation marked fuzzy.
    """
    from services.content.domain.access import Principal
    from services.content.usecases import translation_files

    exported = run_with_db(
        lambda db: translation_files.export_translation(
            db, Principal.system("liaison cli"), document_id, locale, file_format
        )
    )
    if out is None:
        sys.stdout.buffer.write(exported.content)
        sys.stdout.buffer.flush()
        return
    out.write_bytes(exported.content)
    click.echo(f"wrote {out}: {exported.segments} segments, {exported.fuzzy} to review", err=True)


@click.command("import")
@click.option("--document", "document_id", type=int, required=True, help="Document id.")
@click.option("--locale", required=True, help="Locale of the translation in the file.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    help="po or xliff (default: from the file name, else its first bytes).",
)
@click.option("--message", default="", help="Revision message (default: says which file and source revision).")
@click.option("--author", default="liaison cli", show_default=True, help="Author recorded on the revision.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(
    document_id: int,
    locale: str,
    file_format: FileFormat | None,
    message: str,
    author: str,
    file: Path,
) -> None:
    """Import a filled PO or XLIFF FILE as a new translation revision of LOCALE.

    Refused, with each segment at fault listed and nothing written, when the file is for another
    document or revision, a segment is missing, unknown or untranslated, or a translation drops,
    adds or changes a fact placeholder or a link target. A file whose translation is the head's
    writes nothing either (it says so).
    """
    from services.content.domain.access import Principal
    from services.content.usecases import translation_files

    data = file.read_bytes()
    chosen = file_format or translation_files.detect_format(data, filename=file.name)
    written = run_with_db(
        lambda db: translation_files.import_translation(
            db, Principal.system(author), document_id, locale, data, chosen, message
        )
    )
    revision = written.revision
    if not written.created:
        click.echo(
            f"document {revision.document_id} {revision.locale}: unchanged, revision {revision.number} "
            "already holds this translation (nothing written)"
        )
        return
    click.echo(
        f"document {revision.document_id} {revision.locale}: revision {revision.number} "
        f"(translates source revision {revision.source_revision})"
    )
