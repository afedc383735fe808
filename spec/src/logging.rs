//! Log output for the binaries (feature `cli`): `tracing` events on stderr, filtered by
//! `RUST_LOG` with `tracing-subscriber`'s `EnvFilter` syntax (`RUST_LOG=statebound_river=debug`,
//! `RUST_LOG=info,statebound_river::transport=trace`). Without `RUST_LOG` each binary shows
//! what it passes as the default (`warn` for the servers, `error` for `river`).
//!
//! What the sessions log: each session task runs inside its session's `river.session` span
//! (`role`, `peer`, `session_id`; see `crate::trace`), and every transition is an `info` event
//! in it naming its edge (`transition`, `from`, `to`); status changes are `info`, protocol
//! errors `warn`.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber with `RUST_LOG`'s filter, or `default` when `RUST_LOG` is
/// unset or empty; colours only on a terminal. A second call, or one after another subscriber
/// was installed, changes nothing.
pub fn init(default: &str) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(default),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
