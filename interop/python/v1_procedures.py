"""v1.1 client (`replit_river.client`): rpc `test.echo` and stream `test.echoStream`.

The v1.1 client sends an init message only when `init` is truthy (`if init and
init_serializer`): with `{}` it would open the stream with the first request instead. The
stream here passes a truthy stand-in that serializes to `{}`, so the server sees the init {}
that the procedure expects, then each request.
"""

from datetime import timedelta

from interop_common import (
    SERVER_ID,
    check,
    emit,
    identity,
    parser,
    river_error,
    run,
    transport_options,
    uri_factory,
)
from replit_river.client import Client
from replit_river.error_schema import RiverError

SERVICE = "test"


class EmptyInit:
    """Truthy, unlike `{}`; serialized as `{}`."""


def empty_init(_: EmptyInit) -> dict:
    return {}


async def requests(messages):
    for m in messages:
        yield {"msg": m}


async def main(args) -> None:
    client = Client(
        uri_and_metadata_factory=uri_factory(args.uri),
        client_id=args.client_id,
        server_id=SERVER_ID,
        transport_options=transport_options(heartbeat_ms=args.heartbeat_ms),
    )
    step = args.step_timeout
    try:
        await client.ensure_connected()
        session = client._transport._sessions.get(SERVER_ID)
        check(session is not None, "no session after connecting")
        emit("connected", session_id=session.session_id)

        got = await client.send_rpc(
            SERVICE, "echo", {"msg": "v1.1 says hi"}, identity, identity, river_error,
            timedelta(seconds=step),
        )
        emit("rpc", procedure="echo", response=got)
        check(got == {"msg": "v1.1 says hi"}, f"echo answered {got!r}")

        sent = ["x", "y", "z"]
        got_stream = []
        async for item in client.send_stream(
            SERVICE, "echoStream", EmptyInit(), requests(sent), empty_init, identity,
            identity, river_error,
        ):
            check(not isinstance(item, RiverError), f"echoStream yielded an error {item!r}")
            got_stream.append(item)
        emit("stream", procedure="echoStream", responses=got_stream)
        check(got_stream == [{"msg": m} for m in sent], f"echoStream answered {got_stream!r}")
        check(
            client._transport._sessions.get(SERVER_ID) is session, "the session was replaced"
        )
        emit("same_session", session_id=session.session_id)
    finally:
        await client.close()


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--heartbeat-ms", type=float, default=500)
    p.add_argument("--step-timeout", type=float, default=5.0)
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
