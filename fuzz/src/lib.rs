//! Fuzz targets for `statebound-river`, as plain functions of their input.
//!
//! Each target takes any bytes, must not panic, and checks what it can about the result. The
//! binaries in `fuzz_targets/` hand them to libFuzzer when built with `--cfg fuzzing` (see
//! `fuzz/run.sh`), and otherwise replay files; `tests/corpus.rs` replays the committed corpus
//! through each one, so a regression fails `cargo test` even where no fuzzer runs.
//!
//! | target | feeds | checks |
//! |---|---|---|
//! | [`decode_json`] | any bytes to the JSON codec | what decodes re-encodes to itself |
//! | [`decode_msgpack`] | any bytes to the msgpack codec | re-encoding what decodes is stable |
//! | [`handshake_frame`] | a first frame: sniff, decode, read handshake payloads | parsed handshakes rebuild to themselves |
//! | [`server_handshake`] | the server's path: `parse_request`, then `decide` against a session the input describes | each verdict is the one `docs/protocol.md` section 4 gives |
//! | [`client_response`] | the client's path: `evaluate_response` | each outcome is the one `docs/protocol.md` section 4 gives |
//! | [`session_events`] | a sequence of events against one `SessionDriver` | delivery in order, a consistent buffer, nothing after the end, no timer left |

mod handshake;
mod input;
pub mod replay;
mod session;
mod wire;

pub use handshake::{client_response, server_handshake};
pub use session::session_events;
pub use wire::{decode_json, decode_msgpack, handshake_frame};

/// The `main` of a fuzz target binary: under `--cfg fuzzing`, libFuzzer's entry point calling
/// `$target`; otherwise a `main` that replays the files named on the command line.
#[macro_export]
macro_rules! fuzz_target {
    ($target:ident) => {
        #[cfg(fuzzing)]
        ::libfuzzer_sys::fuzz_target!(|data: &[u8]| $crate::$target(data));

        #[cfg(not(fuzzing))]
        fn main() {
            $crate::replay::main(stringify!($target), $crate::$target);
        }
    };
}
