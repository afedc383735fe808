"""v2 client: connect, then hold the session through several server heartbeats.

Prints `connected` (session id), then `alive` with how many messages each side sent on the
session (`server_seq_seen` counts the server's heartbeats: this client sends nothing else).
Then prints `holding` and keeps the session until stdin says `close` (or ends).
Fails if the session changes, leaves the connected state, or sees fewer than `--min-heartbeats`.
"""

import asyncio

from interop_common import (
    check,
    emit,
    parser,
    read_line,
    run,
    v2_client,
)


async def main(args) -> None:
    client = v2_client(args)
    try:
        await client.ensure_connected()
        session = client._transport._session
        check(session is not None and session.is_connected(), "not connected after handshake")
        emit("connected", session_id=session.session_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.hold
        while loop.time() < deadline:
            await asyncio.sleep(0.1)
            check(client._transport._session is session, "the session was replaced")
            check(session.is_connected(), f"the session left the connected state: {session._state}")
        emit(
            "alive",
            session_id=session.session_id,
            held_s=args.hold,
            server_seq_seen=session.ack,
            client_seq_sent=session.seq,
        )
        check(
            session.ack >= args.min_heartbeats,
            f"saw {session.ack} heartbeats in {args.hold} s, wanted {args.min_heartbeats}",
        )
        # Stay connected until told (the test checks the server's side meanwhile).
        emit("holding")
        line = await read_line()
        check(line in ("", "close"), f"expected `close` on stdin, got {line!r}")
    finally:
        await client.close()


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--hold", type=float, default=3.5, help="seconds to keep the session")
    p.add_argument("--min-heartbeats", type=int, default=2)
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
