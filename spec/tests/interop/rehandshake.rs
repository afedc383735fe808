//! River's Python v2 client and REHANDSHAKE (`docs/protocol.md` section 10, "Rehandshakes"):
//! it ignores the request, so a server with rehandshakes on tears its session down one
//! handshake timeout after asking. This is why `ServerOptions::rehandshake` is off by default
//! (every other interop test runs with it off). Needs the Python environment that
//! `interop/setup.sh` makes, as `python` does.

use std::time::Duration;

use crate::interop_support::{Cast, Peer, river_echo, ws_url};
use tokio::time::{Instant, sleep};

const STEP: Duration = Duration::from_secs(20);

/// With a credential that expires 1.5 s after each handshake, river-echo asks 0.5 s after the
/// handshake (one 1 s handshake timeout before the expiry); the client logs that it ignores a
/// message for a stream it does not know, and never answers, so the server ends the session
/// with `handshake_failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_ignores_rehandshake_requests_and_the_server_ends_its_session() {
    let (echo, addr) = river_echo(&["--codec", "msgpack", "--rehandshake-every", "1500"]).await;
    let client_id = "py-v2-rehandshake";
    let py = Peer::python_script(
        "v2_handshake.py",
        [
            "--uri",
            &ws_url(addr),
            "--client-id",
            client_id,
            "--timeout",
            "45",
            "--hold",
            "5",
            "--min-heartbeats",
            "1",
        ],
    );
    let cast = Cast(vec![&echo, &py]);
    cast.expect_event(&py, "connected", STEP).await;
    let teardown = "the client did not answer the re-handshake in time";
    if !echo.wait_for_count(teardown, 1, STEP).await {
        cast.fail(&format!("river-echo never reported `{teardown}`"));
    }
    cast.check(
        echo.count(&format!("{client_id}: protocol error HandshakeFailed")) >= 1,
        || "the teardown is not a handshake_failed protocol error".into(),
    );
    let ignored = "no stream for rehandshake, ignoring message";
    let deadline = Instant::now() + STEP;
    while !py.transcript().contains(ignored) && Instant::now() < deadline {
        sleep(Duration::from_millis(50)).await;
    }
    cast.check(py.transcript().contains(ignored), || {
        format!("the Python client never logged `{ignored}`")
    });
}
