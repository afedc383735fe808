//! Any bytes given to the JSON codec either fail cleanly or decode to a message that survives
//! re-encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use statebound_river::wire::{Codec, JsonCodec};

fuzz_target!(|frame: &[u8]| {
    let Ok(msg) = JsonCodec.decode(frame) else {
        return;
    };
    // A decoded JSON message holds nothing JSON cannot carry (no NaN, no extension values, no
    // `$t` keys), so re-encoding must succeed, and decoding our own frame must give it back.
    let ours = JsonCodec
        .encode(&msg)
        .expect("a decoded JSON message re-encodes");
    let again = JsonCodec.decode(&ours).expect("our own JSON frame decodes");
    assert_eq!(again, msg);
    assert_eq!(JsonCodec.encode(&again).expect("re-encodes"), ours);
});
