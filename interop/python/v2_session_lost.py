"""v2 client: the server forgot the session (SESSION_STATE_MISMATCH): start a new one.

Coordinates like v2_reconnect.py (`ready_for_cut`, then waits for `cut done`): in between the
test points its proxy at a fresh server and severs the connection. The client's transparent
reconnect is refused with SESSION_STATE_MISMATCH, so its session must end; the next
`ensure_connected` must then create and establish a new session (a new id), which must get
heartbeats. Prints `session_ended` and `new_session`.
"""

from interop_common import (
    Captured,
    check,
    connect,
    emit,
    eventually,
    parser,
    run,
    v2_client,
    wait_for_line,
)


async def main(args) -> None:
    captured = Captured.install()
    client = v2_client(args)
    step = args.step_timeout
    try:
        old = await connect(client)
        await eventually(lambda: old.ack >= 1, "a first heartbeat", step)
        emit("ready_for_cut", session_id=old.session_id, server_seq_seen=old.ack,
             client_seq_sent=old.seq)
        await wait_for_line("cut done")
        emit("cut_done")
        await eventually(old.is_terminal, "the old session to end", step)
        mismatch = captured.saw("SESSION_STATE_MISMATCH")
        emit("session_ended", session_id=old.session_id, saw_session_state_mismatch=mismatch)
        check(mismatch, "the client never logged a SESSION_STATE_MISMATCH refusal")

        await client.ensure_connected()
        new = client._transport._session
        check(new is not None and new is not old, "no new session")
        check(new.session_id != old.session_id, "the new session reused the old id")
        check(new.is_connected(), f"the new session is not connected: {new._state}")
        emit("new_session", session_id=new.session_id, old_session_id=old.session_id)
        await eventually(lambda: new.ack >= 1, "a heartbeat on the new session", step)
        emit("alive", session_id=new.session_id, server_seq_seen=new.ack)
    finally:
        await client.close()


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--step-timeout", type=float, default=10.0)
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
