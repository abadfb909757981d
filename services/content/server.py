"""The HTTP server of the content service: granian, with the settings production runs.

granian (a Rust HTTP server) parses requests and writes responses outside the Python
interpreter, which leaves the interpreter to the app: on published reads it answers about
1.6 times as many requests per second as uvicorn for the same app (see bench/read_bench.py).
Its own access log is off: it would make a synchronous Python log call per request; the
app's middleware writes the access log through a queue instead (services.logging_setup).
"""

from __future__ import annotations

from typing import Literal

GRACEFUL_SECONDS = 20
"""How long a worker may take, after SIGTERM, to finish its requests in flight before it is killed."""


def run_server(
    target: str, host: str, port: int, workers: int = 1, log_format: Literal["console", "json"] = "console"
) -> None:
    """Serve the ASGI app built by the factory at ``target`` ("module:function") until SIGTERM or SIGINT.

    Each worker process calls the factory (it configures that process's logging). SIGTERM stops
    accepting connections, lets the requests in flight finish (up to ``GRACEFUL_SECONDS``), runs the
    app's shutdown, and exits with code 0.
    """
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    from services.logging_setup import configure_logging

    server = Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,  # ASGI with lifespan: the app opens and closes its database
        workers=workers,
        factory=True,
        http=HTTPModes.http1,  # the gateway and the site agents speak HTTP/1.1
        websockets=False,
        log_access=False,
        workers_kill_timeout=GRACEFUL_SECONDS,
    )
    # granian set up its own handlers when built: send its lines through ours, like every logger's.
    configure_logging(log_format)
    server.serve()
