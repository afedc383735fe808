//! River's big integers: how its TypeScript codecs carry a JavaScript `BigInt`.
//!
//! - JSON: `{"$b": "<decimal>"}`. TypeScript writes every `BigInt` that way and reads any map
//!   with a `"$b"` key back as one.
//! - msgpack: extension type 0 whose data is itself one msgpack value, a number or a decimal
//!   string. TypeScript writes a number when the value is a safe JavaScript integer and a
//!   string otherwise, and reads either.
//!
//! Here both become [`Value::Int`](super::Value::Int). When encoding, an integer that the peer's
//! own number type would not hold exactly is written as a big integer: in JSON beyond
//! [`SAFE_INT_MAX`] in magnitude (a JavaScript number is a double), in msgpack beyond
//! `i64::MIN..=u64::MAX` (msgpack's own integers; every msgpack reader takes those, and the
//! Python client reads nothing else).

use super::error::DecodeError;
use super::msgpack;
use super::value::Value;

/// The key River's JSON codec uses to mark a big integer: `{"$b": "<decimal>"}`.
pub const BIGINT_TAG: &str = "$b";

/// The msgpack extension type River's binary codec uses for a big integer.
pub const BIGINT_EXT: i8 = 0;

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`, 2^53 - 1).
/// JSON encoding writes integers beyond it, in either direction, as `{"$b": ..}`.
pub const SAFE_INT_MAX: i128 = (1 << 53) - 1;

/// Whether a JSON number carries `n` exactly to a JavaScript peer.
pub(super) fn fits_js_number(n: i128) -> bool {
    n.unsigned_abs() <= SAFE_INT_MAX.unsigned_abs()
}

/// Reads River's decimal text: an optional `-` and at least one digit, nothing else. That is what
/// TypeScript's `BigInt.prototype.toString` writes; the values `i128` cannot hold are refused.
pub(super) fn parse_decimal(text: &str) -> Result<i128, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a decimal integer"));
    }
    text.parse::<i128>()
        .map_err(|_| format!("{text} is outside the range of a 128-bit integer"))
}

/// The data of the extension that carries `n`: a msgpack string of its decimal digits, as
/// TypeScript writes a value outside the safe range.
pub(super) fn ext_data(n: i128) -> Vec<u8> {
    let text = n.to_string();
    // At most 40 characters ("-" and 39 digits): a fixstr or a `str 8`.
    let len = u8::try_from(text.len()).unwrap_or(u8::MAX);
    let mut data = Vec::with_capacity(text.len() + 2);
    if len < 32 {
        data.push(0xa0 | len);
    } else {
        data.extend([0xd9, len]);
    }
    data.extend(text.as_bytes());
    data
}

/// Reads the data of a type-0 extension: one msgpack integer or decimal string.
pub(super) fn from_ext_data(data: &[u8]) -> Result<i128, DecodeError> {
    let invalid = |reason: String| DecodeError::InvalidBigInt(reason);
    let value = msgpack::read_scalar(data).map_err(|e| match e {
        DecodeError::InvalidBigInt(_) => e,
        other => invalid(format!("its data is not one msgpack value: {other}")),
    })?;
    match value {
        Value::Int(n) => Ok(n),
        Value::String(text) => parse_decimal(&text).map_err(invalid),
        other => Err(invalid(format!(
            "it must hold an integer or a decimal string, found {}",
            other.kind()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_is_read_strictly() {
        assert_eq!(parse_decimal("0"), Ok(0));
        assert_eq!(parse_decimal("-17"), Ok(-17));
        assert_eq!(parse_decimal(&i128::MIN.to_string()), Ok(i128::MIN));
        for bad in ["", "-", "+5", " 5", "5 ", "0x10", "1e3", "--1", "1_000"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
        assert!(parse_decimal("170141183460469231731687303715884105728").is_err());
    }

    #[test]
    fn ext_data_is_a_msgpack_string() {
        assert_eq!(ext_data(-5), b"\xa2-5");
        let big = ext_data(i128::MAX);
        assert_eq!(&big[..2], [0xd9, 39]);
        assert_eq!(from_ext_data(&big).unwrap(), i128::MAX);
        assert_eq!(from_ext_data(&ext_data(i128::MIN)).unwrap(), i128::MIN);
    }

    #[test]
    fn ext_data_may_be_a_number() {
        assert_eq!(from_ext_data(b"\x05").unwrap(), 5);
        assert_eq!(
            from_ext_data(b"\xd3\xff\xff\xff\xff\xff\xff\xff\xff").unwrap(),
            -1
        );
        assert!(from_ext_data(b"\xc0").is_err());
        assert!(from_ext_data(b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00").is_err());
        assert!(from_ext_data(b"\x05\x05").is_err());
        assert!(from_ext_data(b"").is_err());
        // Nothing nests: a container or another extension inside is refused, not followed.
        assert!(from_ext_data(b"\x91\x05").is_err());
        assert!(from_ext_data(b"\xd4\x00\x05").is_err());
    }
}
