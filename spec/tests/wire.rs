//! The wire format: both codecs, control payloads, frames recorded from River's peers, payload
//! conversion, and property tests.

#[path = "wire/codec.rs"]
mod codec;
#[path = "wire/control.rs"]
mod control;
#[path = "wire/golden.rs"]
mod golden;
#[path = "wire/payloads.rs"]
mod payloads;
#[path = "wire/properties.rs"]
mod properties;
