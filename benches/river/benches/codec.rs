//! Encoding and decoding a typical rpc request with our codecs, against the same envelope as a
//! plain serde struct (dynamic payload) through rmp-serde and `serde_json`. Each round times both
//! back to back; the ratio of the two in a round is what is reported, as median (min-max).
//!
//! `cargo bench -p statebound-bench --bench codec`

use statebound_bench::{codec_round_trips, plain_json_round_trips, plain_msgpack_round_trips};
use statebound_river::wire::CodecKind;

mod timing;

fn main() {
    let n = 20_000;
    timing::compare(
        "msgpack encode+decode, ours vs plain rmp-serde",
        n,
        || codec_round_trips(CodecKind::Msgpack, n),
        || plain_msgpack_round_trips(n),
    );
    timing::compare(
        "json encode+decode, ours vs plain serde_json",
        n,
        || codec_round_trips(CodecKind::Json, n),
        || plain_json_round_trips(n),
    );
}
