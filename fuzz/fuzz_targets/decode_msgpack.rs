//! Any bytes given to the msgpack codec either fail cleanly or decode to a message that survives
//! re-encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use statebound_river::wire::{Codec, MsgpackCodec};

fuzz_target!(|frame: &[u8]| {
    let Ok(msg) = MsgpackCodec.decode(frame) else {
        return;
    };
    // Every value msgpack can decode, msgpack can encode. Frames are compared rather than
    // messages, because a NaN float is not equal to itself.
    let ours = MsgpackCodec
        .encode(&msg)
        .expect("a decoded msgpack message re-encodes");
    let again = MsgpackCodec
        .decode(&ours)
        .expect("our own msgpack frame decodes");
    assert_eq!(MsgpackCodec.encode(&again).expect("re-encodes"), ours);
});
