//! Errors from encoding and decoding frames.

/// Why a frame could not be decoded into a [`TransportMessage`](super::TransportMessage).
///
/// Decoding never panics: every malformed input ends here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame has no bytes.
    #[error("empty frame")]
    Empty,
    /// The frame is not valid JSON (or a `"$t"` byte string in it is not base64).
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    /// The msgpack value ends before its declared length.
    #[error("truncated msgpack value")]
    Truncated,
    /// The msgpack byte `0xC1`, which the format reserves and no encoder writes.
    #[error("reserved msgpack marker 0xc1")]
    ReservedMarker,
    /// Arrays and maps nest deeper than the limit.
    #[error("msgpack value nests deeper than {0} levels")]
    TooDeep(usize),
    /// Bytes are left after the first msgpack value.
    #[error("{0} trailing bytes after the msgpack value")]
    TrailingBytes(usize),
    /// A msgpack string is not valid UTF-8.
    #[error("msgpack string is not valid UTF-8")]
    InvalidUtf8,
    /// A big integer (msgpack extension type 0, River's `BigInt`) holds neither an integer nor
    /// a decimal string, or one outside the range of `i128`.
    #[error("invalid big integer (msgpack extension type 0): {0}")]
    InvalidBigInt(String),
    /// Decoding the frame would take more memory than its [`DecodeBudget`](super::DecodeBudget)
    /// allows (a frame made mostly of one-byte values, such as a long msgpack array of `nil`s).
    #[error("decoding the frame would take more than {limit} bytes (its decode budget)")]
    OverBudget {
        /// The frame's budget in bytes.
        limit: usize,
    },
    /// A msgpack map has a key that is not a string.
    #[error("map key must be a string, found {found}")]
    NonStringKey {
        /// The kind of key found.
        found: &'static str,
    },
    /// The frame decodes, but not to a map.
    #[error("a message must be a map, found {found}")]
    NotAMap {
        /// The kind of value found.
        found: &'static str,
    },
    /// A required envelope field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// An envelope field has the wrong type or is out of range.
    #[error("field `{field}`: expected {expected}, found {found}")]
    InvalidField {
        /// The field's wire name.
        field: &'static str,
        /// What the field must hold.
        expected: &'static str,
        /// What it held.
        found: String,
    },
}

/// Why a message could not be encoded.
///
/// A message that fails to encode must not consume a sequence number (`docs/protocol.md` section 5),
/// so encoding reports failure rather than writing something the peer would misread.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload holds something JSON cannot carry: a non-finite float, a msgpack extension
    /// value, or a map with a `"$t"` or `"$b"` key (River's JSON codec would read it back as
    /// bytes or as a big integer).
    #[error("cannot encode as JSON: {0}")]
    Json(serde_json::Error),
    /// The message could not be written as msgpack. Every [`Value`](super::Value) can be, so this
    /// reports a failure of the writer itself.
    #[error("cannot encode as msgpack: {0}")]
    Msgpack(rmp_serde::encode::Error),
}
