"""v2 client: a frame it wrote is lost in flight, then the connection is cut.

Coordinates with the test through stdio:
  1. prints `ready_to_lose` once the session is connected and has seen a heartbeat, then waits
     for `swallowing` (the test's proxy now drops everything the client writes);
  2. starts an rpc `echo` (its frame is written, and lost), prints `sent_doomed`, and waits for
     `cut done` (the test severs the connection in between);
  3. the client never resends a frame it wrote, so it resumes with `nextSentSeq` past the lost
     one: the server must refuse the resume with SESSION_STATE_MISMATCH, and the session ends.
     The doomed rpc must fail rather than hang, and no answer to it may arrive;
  4. the next `ensure_connected` must make a new session (a new id) on which `echo` works.
Prints `session_ended`, `doomed_call`, `new_session` and `echoed`.
"""

import asyncio
from datetime import timedelta

from interop_common import (
    Captured,
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

SERVICE = "test"


async def echo(client, text: str, step: float) -> object:
    return await client.send_rpc(
        SERVICE, "echo", {"msg": text}, identity, identity, river_error,
        timedelta(seconds=step),
    )


async def main(args) -> None:
    captured = Captured.install()
    client = v2_client(args)
    step = args.step_timeout
    try:
        old = await connect(client)
        await eventually(lambda: old.ack >= 1, "a first heartbeat", step)
        emit("ready_to_lose", session_id=old.session_id, seq=old.seq)
        await wait_for_line("swallowing")

        seq_before = old.seq
        doomed = asyncio.create_task(echo(client, "lost in flight", step))
        await eventually(lambda: old.seq > seq_before, "the doomed rpc to take a seq", step)
        emit("sent_doomed", seq=seq_before)
        await wait_for_line("cut done")
        emit("cut_done")

        await eventually(old.is_terminal, "the old session to end", step)
        mismatch = captured.saw("SESSION_STATE_MISMATCH")
        emit("session_ended", session_id=old.session_id, saw_session_state_mismatch=mismatch)
        check(mismatch, "the client never logged a SESSION_STATE_MISMATCH refusal")

        try:
            async with asyncio.timeout(step):
                got = await doomed
        except TimeoutError:
            raise
        except Exception as e:  # noqa: BLE001 - the call must fail, however it says so
            emit("doomed_call", failed=True, kind=type(e).__name__, message=str(e))
        else:
            emit("doomed_call", failed=False, response=got)
            check(False, f"the lost rpc was answered: {got!r}")

        await client.ensure_connected()
        new = client._transport._session
        check(new is not None and new is not old, "no new session")
        check(new.session_id != old.session_id, "the new session reused the old id")
        emit("new_session", session_id=new.session_id, old_session_id=old.session_id)
        async with asyncio.timeout(step):
            got = await echo(client, "on the new session", step)
        emit("echoed", response=got)
        check(got == {"msg": "on the new session"}, f"echo answered {got!r}")
        check(client._transport._session is new, "the session changed again")
    finally:
        await client.close()


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--step-timeout", type=float, default=10.0)
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
