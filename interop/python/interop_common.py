"""Shared helpers for the interop scripts (run by spec/tests/interop/python.rs).

Every script prints one JSON object per line on stdout (`{"event": ..., ...}`), logs the
River client's own logging to stderr, runs under its own asyncio timeout, and exits non-zero
(after printing an `error` event) when anything is not as expected.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from replit_river.error_schema import RiverError
from replit_river.transport_options import (
    ConnectionRetryOptions,
    TransportOptions,
    UriAndMetadata,
)
from replit_river.v2 import Client as V2Client

SERVER_ID = "SERVER"


class Failure(Exception):
    """What a script observed is not what it expected."""


class Captured(logging.Handler):
    """Keeps the River package's log lines, with their exceptions, to look for a code in."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    @classmethod
    def install(cls) -> "Captured":
        captured = cls()
        logging.getLogger("replit_river").addHandler(captured)
        return captured


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=repr), flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--uri", help="the server's ws:// address")
    p.add_argument("--client-id", default="python-interop")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole run")
    return p


def run(main: Callable[[], Awaitable[None]], timeout: float) -> None:
    """Runs `main` under `timeout` seconds; exits 1 with an `error` event on any failure."""
    level = logging.DEBUG if os.environ.get("RIVER_INTEROP_LOG") == "debug" else logging.INFO
    logging.basicConfig(
        stream=sys.stderr,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await main()

    try:
        asyncio.run(bounded())
    except TimeoutError:
        emit("error", kind="timeout", message=f"the script did not finish within {timeout} s")
        traceback.print_exc()
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - report whatever went wrong
        emit("error", kind=type(e).__name__, message=describe(e))
        traceback.print_exc()
        sys.exit(1)
    emit("done")


def describe(e: BaseException) -> str:
    """The exception and its causes, outermost first."""
    parts = []
    cause: BaseException | None = e
    while cause is not None and len(parts) < 10:
        parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(parts)


def transport_options(**overrides: Any) -> TransportOptions:
    """Defaults, except a quick retry policy so failing handshakes fail within seconds."""
    retry = ConnectionRetryOptions(
        base_interval_ms=50,
        max_jitter_ms=20,
        max_backoff_ms=500,
        attempt_budget_capacity=5,
        budget_restore_interval_ms=200,
        max_retry=5,
    )
    options: dict[str, Any] = {"connection_retry_options": retry}
    options.update(overrides)
    return TransportOptions(**options)


def uri_factory(
    uri: str, metadata: Any = None
) -> Callable[[], Awaitable[UriAndMetadata[Any]]]:
    async def factory() -> UriAndMetadata[Any]:
        return {"uri": uri, "metadata": metadata}

    return factory


def v2_client(args: argparse.Namespace) -> V2Client:
    """River's v2 client for the script's `--uri` and `--client-id`, with quick retries."""
    return V2Client(
        uri_and_metadata_factory=uri_factory(args.uri),
        client_id=args.client_id,
        server_id=SERVER_ID,
        transport_options=transport_options(),
    )


async def connect(client: V2Client) -> Any:
    """Connects `client`, prints `connected` with the session id, and returns the session."""
    await client.ensure_connected()
    session = client._transport._session
    check(session is not None, "no session after connecting")
    emit("connected", session_id=session.session_id)
    return session


def identity(x: Any) -> Any:
    return x


def river_error(payload: Any) -> RiverError:
    return RiverError.model_validate(payload)


async def read_line() -> str:
    """One line from stdin, without blocking the event loop ("" at end of input)."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip()


async def wait_for_line(expected: str) -> None:
    line = await read_line()
    check(line == expected, f"expected {expected!r} on stdin, got {line!r}")


async def eventually(
    condition: Callable[[], bool], what: str, timeout: float = 10.0, every: float = 0.02
) -> None:
    """Polls `condition` until it holds; fails with `what` after `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(every)
    except TimeoutError:
        raise Failure(f"timed out after {timeout} s waiting for {what}") from None
