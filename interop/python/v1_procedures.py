"""v1.1 client (`replit_river.client`): rpc `test.echo`, stream `test.echoStream` and upload
`test.concat`, the stream and upload with the init `{}`, and an upload with no requests.

The v1.1 client sends an init message only when `init` is truthy (`if init and
init_serializer`): with `{}` it opens the stream with its first request instead, and an upload
with no requests with its close. The server must take those as a request and a close, not as
the init.
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
            SERVICE, "echoStream", {}, requests(sent), identity, identity, identity,
            river_error,
        ):
            check(not isinstance(item, RiverError), f"echoStream yielded an error {item!r}")
            got_stream.append(item)
        emit("stream", procedure="echoStream", responses=got_stream)
        check(got_stream == [{"msg": m} for m in sent], f"echoStream answered {got_stream!r}")

        parts = ["abc", "def"]
        got_upload = await client.send_upload(
            SERVICE, "concat", {}, requests(parts), identity, identity, identity, river_error,
        )
        emit("upload", procedure="concat", response=got_upload)
        check(got_upload == {"msg": "abcdef"}, f"concat answered {got_upload!r}")

        got_empty = await client.send_upload(
            SERVICE, "concat", {}, requests([]), identity, identity, identity, river_error,
        )
        emit("empty_upload", procedure="concat", response=got_empty)
        check(got_empty == {"msg": ""}, f"concat of nothing answered {got_empty!r}")
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
