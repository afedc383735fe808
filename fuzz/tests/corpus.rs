//! Every committed fuzz input, replayed through its target: the seeds, the corpus the fuzzer
//! grew (minimised), and the inputs that once failed. A regression fails here without a
//! fuzzer.

use std::path::PathBuf;

use statebound_river_fuzz::replay;

fn replay(target: fn(&[u8]), name: &str, seeds: &[&str]) -> usize {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = seeds.iter().map(|s| root.join("seeds").join(s)).collect();
    for kind in ["corpus", "regressions"] {
        let dir = root.join(kind).join(name);
        if dir.is_dir() {
            dirs.push(dir);
        }
    }
    replay::run(target, &dirs)
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
