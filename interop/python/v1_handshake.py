"""v1.1 client (`replit_river.client`): connect, then hold the session through heartbeats.

The v1.1 client sends its own heartbeats every `--heartbeat-ms` (the package's default, 2500 ms,
unless given) and, unlike v2, does not answer the server's. river-echo gives v1.1 sessions their
own liveness window (10 s) for that reason: with the v2.0 window (2 x 1000 ms) it would drop the
idle connection, and this client would never notice (its websocket wrapper still says OPEN, so
`get_or_create_session` keeps the dead connection until its own grace period ends).
Prints `connected`, then `alive` with how many server messages arrived; fails if the
session changes or its connection was replaced while holding (unless `--allow-reconnects`).
Then prints `holding` and keeps the session until stdin says `close` (or ends).
"""

import asyncio

from interop_common import (
    SERVER_ID,
    check,
    emit,
    parser,
    read_line,
    run,
    transport_options,
    uri_factory,
)
from replit_river.client import Client


async def main(args) -> None:
    client = Client(
        uri_and_metadata_factory=uri_factory(args.uri),
        client_id=args.client_id,
        server_id=SERVER_ID,
        transport_options=(
            transport_options(heartbeat_ms=args.heartbeat_ms)
            if args.heartbeat_ms is not None
            else transport_options()
        ),
    )
    try:
        await client.ensure_connected()
        session = client._transport._sessions.get(SERVER_ID)
        check(session is not None, "no session after connecting")
        ws = session._ws_wrapper.ws
        emit("connected", session_id=session.session_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.hold
        reconnects = 0
        while loop.time() < deadline:
            await asyncio.sleep(0.1)
            check(client._transport._sessions.get(SERVER_ID) is session, "the session was replaced")
            if session._ws_wrapper.ws is not ws:
                reconnects += 1
                ws = session._ws_wrapper.ws
                emit("reconnected", session_id=session.session_id)
                check(args.allow_reconnects, "the connection was replaced while idle")
        emit(
            "alive",
            session_id=session.session_id,
            held_s=args.hold,
            server_seq_seen=session._seq_manager.ack,
            client_seq_sent=session._seq_manager.seq,
            reconnects=reconnects,
        )
        check(
            session._seq_manager.ack >= args.min_heartbeats,
            f"saw {session._seq_manager.ack} server heartbeats, wanted {args.min_heartbeats}",
        )
        # Stay connected until told (the test checks the server's side meanwhile).
        emit("holding")
        line = await read_line()
        check(line in ("", "close"), f"expected `close` on stdin, got {line!r}")
    finally:
        await client.close()


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--hold", type=float, default=3.5)
    p.add_argument("--heartbeat-ms", type=float, default=None)
    p.add_argument("--min-heartbeats", type=int, default=2)
    p.add_argument("--allow-reconnects", action="store_true")
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
