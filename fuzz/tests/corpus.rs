//! Every committed fuzz input, replayed through its target: the seeds, the corpus the fuzzer
//! grew (minimised), and the inputs that once failed. A regression fails here without a
//! fuzzer.

use std::path::PathBuf;

use statebound_river::wire::{Codec, JsonCodec, MsgpackCodec};
use statebound_river_fuzz::replay;

/// Stack for the replay: a main thread's 8 MiB. Frames nested to the codecs' limit fit a tokio
/// worker's 2 MiB (`nesting_at_the_limit_fits_a_worker_stack` below checks that); the replay
/// keeps the larger stack so that a regression there shows up in that one test, not in all.
const REPLAY_STACK: usize = 8 << 20;

fn replay(target: fn(&[u8]), name: &str, seeds: &[&str]) -> usize {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = seeds.iter().map(|s| root.join("seeds").join(s)).collect();
    for kind in ["corpus", "regressions"] {
        let dir = root.join(kind).join(name);
        if dir.is_dir() {
            dirs.push(dir);
        }
    }
    std::thread::Builder::new()
        .stack_size(REPLAY_STACK)
        .spawn(move || replay::run(target, &dirs))
        .expect("a replay thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Frames nested just under the codecs' depth limit (kept in `regressions/`), decoded on a
/// thread with tokio's default worker stack of 2 MiB, in debug builds too. The fuzzer found
/// such a frame overflowing a debug build's stack (see RELIABILITY.md); a decoded value is now
/// small enough (32 bytes) that every level fits.
#[test]
fn nesting_at_the_limit_fits_a_worker_stack() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let frames: Vec<(bool, Vec<u8>)> = [
        (true, "decode_msgpack/maps_nested_127"),
        (true, "decode_msgpack/found_nested_maps"),
        (false, "decode_json/arrays_nested_127"),
        (false, "decode_json/objects_nested_127"),
    ]
    .into_iter()
    .map(|(msgpack, file)| {
        (
            msgpack,
            std::fs::read(root.join(file)).expect("a regression file"),
        )
    })
    .collect();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for (msgpack, frame) in &frames {
                // Not a message (the top level is not an envelope), but decoded all the way down.
                if *msgpack {
                    assert!(MsgpackCodec.decode(frame).is_err());
                } else {
                    assert!(JsonCodec.decode(frame).is_err());
                }
            }
        })
        .expect("a 2 MiB thread")
        .join()
        .expect("decoding finished");
}

#[test]
fn decode_json() {
    let n = replay(statebound_river_fuzz::decode_json, "decode_json", &["json"]);
    assert!(n > 3, "only {n} inputs");
}

#[test]
fn decode_msgpack() {
    let n = replay(
        statebound_river_fuzz::decode_msgpack,
        "decode_msgpack",
        &["msgpack"],
    );
    assert!(n > 2, "only {n} inputs");
}

#[test]
fn handshake_frame() {
    let n = replay(
        statebound_river_fuzz::handshake_frame,
        "handshake_frame",
        &["json", "msgpack"],
    );
    assert!(n > 5, "only {n} inputs");
}

#[test]
fn server_handshake() {
    let n = replay(
        statebound_river_fuzz::server_handshake,
        "server_handshake",
        &["server_handshake"],
    );
    assert!(n > 3, "only {n} inputs");
}

#[test]
fn client_response() {
    let n = replay(
        statebound_river_fuzz::client_response,
        "client_response",
        &["client_response"],
    );
    assert!(n > 3, "only {n} inputs");
}

#[test]
fn session_events() {
    let n = replay(
        statebound_river_fuzz::session_events,
        "session_events",
        &["session_events"],
    );
    assert!(n > 3, "only {n} inputs");
}
