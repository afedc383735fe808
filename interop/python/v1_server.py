"""A v1.1 River server (`replit_river.server.Server`) for our Rust client to call.

Serves on 127.0.0.1 (port `--port`, 0 for any) with `websockets.serve`, prints
`listening on 127.0.0.1:PORT`, and runs until its stdin says `stop` or closes.
Procedures in service `test`: rpc `echo` ({"msg": s} -> {"msg": s}) and rpc `fail`
({"code": c, "message": m} -> an error result with that code and message).
Server id: `--server-id` (PYSERVER). Heartbeats every `--heartbeat-ms` (500: the default 2500
is longer than our client's liveness window of 2 x 1000 ms).
"""

import asyncio

from websockets.legacy.server import serve

from interop_common import emit, identity, parser, read_line, run
from replit_river.error_schema import RiverError
from replit_river.rpc import rpc_method_handler
from replit_river.server import Server
from replit_river.transport_options import TransportOptions


async def echo(request, context):
    emit("handled", procedure="echo", request=request)
    return {"msg": request["msg"]}


async def fail(request, context):
    emit("handled", procedure="fail", request=request)
    return RiverError(code=request["code"], message=request["message"])


async def main(args) -> None:
    server = Server(
        server_id=args.server_id,
        transport_options=TransportOptions(heartbeat_ms=args.heartbeat_ms),
    )
    server.add_rpc_handlers(
        {
            ("test", "echo"): ("rpc", rpc_method_handler(echo, identity, identity)),
            ("test", "fail"): ("rpc", rpc_method_handler(fail, identity, identity)),
        }
    )
    async with serve(server.serve, "127.0.0.1", args.port) as ws_server:
        host, port = list(ws_server.sockets)[0].getsockname()[:2]
        print(f"listening on {host}:{port}", flush=True)
        while True:
            line = await read_line()
            if line in ("", "stop"):
                break
        await server.close()
    emit("stopped")


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--server-id", default="PYSERVER")
    p.add_argument("--heartbeat-ms", type=float, default=500)
    p.set_defaults(timeout=120.0)
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
