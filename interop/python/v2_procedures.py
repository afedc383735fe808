"""v2 client: calls each of river-echo's five procedures in service `test` once.

rpc `echo`, stream `echoStream`, upload `concat`, subscription `countdown`, and rpc `fail`
(which must raise with the code and message it was given). Prints one event per procedure with
what came back, and fails on the first answer that is not the expected one.

With `--trace`, an OpenTelemetry SDK tracer provider is installed and everything, connecting
included, runs inside one active span: the client then puts `traceparent` in the WebSocket
upgrade request and `tracing` on the frames of each call, one client span per call. Prints
`trace` (the active span's trace and span ids) first and `spans` (every finished span: name,
trace id, span id) last.
"""

import asyncio
import contextlib
from datetime import timedelta

from interop_common import (
    check,
    emit,
    identity,
    parser,
    river_error,
    run,
    v2_client,
)
from replit_river.error_schema import RiverError, RiverServiceException

SERVICE = "test"


async def requests(messages):
    for m in messages:
        yield {"msg": m}


def hex_ids(context) -> dict[str, str]:
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


@contextlib.contextmanager
def traced(enabled: bool):
    """Runs the block inside an active span of an SDK tracer provider, when `enabled`."""
    if not enabled:
        yield
        return
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    with trace.get_tracer("interop").start_as_current_span("interop") as span:
        emit("trace", **hex_ids(span.get_span_context()))
        yield
    spans = [
        {"name": s.name, **hex_ids(s.get_span_context())} for s in exporter.get_finished_spans()
    ]
    emit("spans", spans=spans)


async def main(args) -> None:
    with traced(args.trace):
        await calls(args)


async def calls(args) -> None:
    client = v2_client(args)
    step = args.step_timeout
    try:
        await client.ensure_connected()
        session_id = client._transport._session.session_id
        emit("connected", session_id=session_id)

        async with asyncio.timeout(step):
            got = await client.send_rpc(
                SERVICE, "echo", {"msg": "héllo 🌊"}, identity, identity, river_error,
                timedelta(seconds=step),
            )
        emit("rpc", procedure="echo", response=got)
        check(got == {"msg": "héllo 🌊"}, f"echo answered {got!r}")

        sent = ["one", "two", "three"]
        got_stream = []
        async with asyncio.timeout(step):
            async for item in client.send_stream(
                SERVICE, "echoStream", {}, requests(sent), identity, identity, identity,
                river_error,
            ):
                check(not isinstance(item, RiverError), f"echoStream yielded an error {item!r}")
                got_stream.append(item)
        emit("stream", procedure="echoStream", responses=got_stream)
        check(got_stream == [{"msg": m} for m in sent], f"echoStream answered {got_stream!r}")

        parts = ["a", "b", "c", "d"]
        async with asyncio.timeout(step):
            got = await client.send_upload(
                SERVICE, "concat", {}, requests(parts), identity, identity, identity,
                river_error,
            )
        emit("upload", procedure="concat", response=got)
        check(got == {"msg": "abcd"}, f"concat answered {got!r}")

        got_sub = []
        async with asyncio.timeout(step):
            async for item in client.send_subscription(
                SERVICE, "countdown", {"from": 3}, identity, identity, river_error
            ):
                check(not isinstance(item, RiverError), f"countdown yielded an error {item!r}")
                got_sub.append(item)
        emit("subscription", procedure="countdown", responses=got_sub)
        check(got_sub == [{"n": n} for n in (3, 2, 1, 0)], f"countdown yielded {got_sub!r}")

        try:
            async with asyncio.timeout(step):
                got = await client.send_rpc(
                    SERVICE, "fail", {"code": "NOPE", "message": "as asked"}, identity,
                    identity, river_error, timedelta(seconds=step),
                )
        except RiverServiceException as e:
            underlying = e.underlying_error
            emit("rpc_error", procedure="fail", code=e.code,
                 message=underlying.message if underlying else None)
            check(e.code == "NOPE", f"fail raised code {e.code!r}")
            check(
                underlying is not None and underlying.message == "as asked",
                f"fail raised {e.message!r}",
            )
        else:
            check(False, f"fail answered {got!r} instead of raising")

        session = client._transport._session
        check(session is not None and session.session_id == session_id, "the session changed")
        emit("same_session", session_id=session_id)
    finally:
        await client.close()


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--step-timeout", type=float, default=5.0, help="seconds per procedure")
    p.add_argument("--trace", action="store_true", help="call inside an active OpenTelemetry span")
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
