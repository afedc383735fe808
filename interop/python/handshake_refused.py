"""v1.1 or v2 client against a server that refuses its handshakes.

Without `--connects-after`: every handshake is refused; `ensure_connected` must raise within
the timeout with `--expect-code` in the error, leaving no live session. Prints `refused` with
the number of attempts the client made.
With `--connects-after N`: the server refuses the first N handshakes only; the client must
retry and connect on attempt N + 1. Prints `connected` with the attempts.

replit-river 0.17.20 retries every refusal with backoff until its retry budget is spent
(SESSION_STATE_MISMATCH aside, which ends a v2 session at once); this script uses a budget of
5 attempts with short backoffs (see interop_common.transport_options).
"""

import json

from interop_common import (
    SERVER_ID,
    check,
    describe,
    emit,
    parser,
    run,
    transport_options,
)
from replit_river.error_schema import RiverException


async def main(args) -> None:
    metadata = json.loads(args.metadata) if args.metadata else None
    attempts = 0

    async def factory():
        nonlocal attempts
        attempts += 1
        return {"uri": args.uri, "metadata": metadata}

    if args.client == "v2":
        from replit_river.v2 import Client
    else:
        from replit_river.client import Client
    client = Client(
        uri_and_metadata_factory=factory,
        client_id=args.client_id,
        server_id=SERVER_ID,
        transport_options=transport_options(),
    )

    def live_session():
        if args.client == "v2":
            session = client._transport._session
            return session if session is not None and session.is_connected() else None
        return client._transport._sessions.get(SERVER_ID)

    try:
        try:
            await client.ensure_connected()
        except RiverException as e:
            text = describe(e)
            emit("refused", code=e.code, attempts=attempts, error=text)
            check(args.connects_after is None, f"the client gave up: {text}")
            check(args.expect_code in text, f"{args.expect_code} is not in the error: {text}")
            check(live_session() is None, "a session is live after the refusal")
        else:
            session = live_session()
            emit("connected", attempts=attempts,
                 session_id=session.session_id if session else None)
            check(args.connects_after is not None, "the handshake was accepted")
            check(session is not None, "no live session after connecting")
            check(
                attempts == args.connects_after + 1,
                f"connected on attempt {attempts}, wanted {args.connects_after + 1}",
            )
    finally:
        await client.close()


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--client", choices=["v1", "v2"], default="v2")
    p.add_argument("--metadata", help="handshake metadata, as JSON")
    p.add_argument("--expect-code", default="", help="the refusal's code")
    p.add_argument("--connects-after", type=int, help="refusals before the server accepts")
    args = p.parse_args()
    run(lambda: main(args), args.timeout)
