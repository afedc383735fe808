"""v2 client: the connection is cut under a live session, which must carry on unchanged.

Coordinates with the test through stdio: prints `ready_for_cut`, then waits for the line
`cut done` on stdin (the test severs the TCP connection through its proxy in between).

Modes:
  session       no procedure; after the cut the same session reconnects and receives
                heartbeats on the new connection.
  stream        `test.echoStream`: two messages echoed before the cut, two after, in order,
                then the client closes and the server closes its side.
  subscription  `test.countdown` from `--from`: two values before the cut; after it, the rest
                down to 0, none lost, repeated or reordered.
In every mode the session id, and the session object itself, must not change, and a new
connection must have been made.
"""

import asyncio

from interop_common import (
    check,
    connect,
    emit,
    eventually,
    identity,
    parser,
    river_error,
    run,
    v2_client,
    wait_for_line,
)
from replit_river.error_schema import RiverError

SERVICE = "test"


async def cut(session, step: float) -> object:
    """Signals the test, waits until it has cut the connection; returns the old ws."""
    old_ws = session._ws
    emit("ready_for_cut", session_id=session.session_id, server_seq_seen=session.ack,
         client_seq_sent=session.seq)
    async with asyncio.timeout(step):
        await wait_for_line("cut done")
    emit("cut_done")
    return old_ws


async def session_mode(client, session, step: float) -> None:
    await eventually(lambda: session.ack >= 1, "a first heartbeat", step)
    old_ws = await cut(session, step)
    seen_at_cut = session.ack
    await eventually(
        lambda: session._ws is not old_ws and session.is_connected(),
        "a new connection on the same session",
        step,
    )
    emit("reconnected", session_id=session.session_id)
    await eventually(
        lambda: session.ack > seen_at_cut, "a heartbeat on the new connection", step
    )


async def stream_mode(client, session, step: float) -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def requests():
        while (m := await queue.get()) is not None:
            yield {"msg": m}

    responses = client.send_stream(
        SERVICE, "echoStream", {}, requests(), identity, identity, identity, river_error
    )

    async def roundtrip(m: str) -> None:
        await queue.put(m)
        async with asyncio.timeout(step):
            got = await anext(responses)
        emit("echoed", sent=m, response=got)
        check(got == {"msg": m}, f"sent {m!r}, echoStream answered {got!r}")

    await roundtrip("before-1")
    await roundtrip("before-2")
    old_ws = await cut(session, step)
    await roundtrip("after-1")
    await roundtrip("after-2")
    await queue.put(None)
    async with asyncio.timeout(step):
        rest = [item async for item in responses]
    check(rest == [], f"echoStream sent more after the client closed: {rest!r}")
    emit("stream_closed")
    check(session._ws is not old_ws, "no new connection was made after the cut")


async def subscription_mode(client, session, step: float, start: int) -> None:
    received: list[object] = []

    async def consume() -> None:
        async for item in client.send_subscription(
            SERVICE, "countdown", {"from": start}, identity, identity, river_error
        ):
            received.append(item)

    task = asyncio.create_task(consume())
    try:
        await eventually(lambda: len(received) >= 2 or task.done(), "two countdown values", step)
        if task.done():
            task.result()
        old_ws = await cut(session, step)
        emit("received_before_cut", count=len(received))
        async with asyncio.timeout(step * 2):
            await task
    finally:
        task.cancel()
    emit("subscription", responses=received)
    errors = [r for r in received if isinstance(r, RiverError)]
    check(not errors, f"countdown yielded errors {errors!r}")
    expected = [{"n": n} for n in range(start, -1, -1)]
    check(received == expected, f"countdown yielded {received!r}, wanted {start} down to 0")
    check(session._ws is not old_ws, "no new connection was made after the cut")


async def main(args) -> None:
    client = v2_client(args)
    try:
        session = await connect(client)
        if args.mode == "session":
            await session_mode(client, session, args.step_timeout)
        elif args.mode == "stream":
            await stream_mode(client, session, args.step_timeout)
        else:
            await subscription_mode(client, session, args.step_timeout, args.start)
        check(client._transport._session is session, "the session object was replaced")
        check(session.is_connected(), f"the session is not connected: {session._state}")
        emit("same_session", session_id=session.session_id)
    finally:
        await client.close()


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--mode", choices=["session", "stream", "subscription"], required=True)
    p.add_argument("--from", dest="start", type=int, default=40)
    p.add_argument("--step-timeout", type=float, default=10.0)
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
