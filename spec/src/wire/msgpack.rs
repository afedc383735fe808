//! A msgpack reader straight into [`Value`].
//!
//! Written here rather than taken from rmpv because rmpv reads the reserved marker `0xC1` as
//! `nil` and keeps invalid UTF-8 strings, where River's peers (Python's `msgpack`,
//! `@msgpack/msgpack`) refuse both; and reading into [`Value`] directly saves building a second
//! tree for every frame. Extension type 0 is River's big integer and is read as
//! [`Value::Int`] (see [`bigint`](super::bigint)); other extensions stay [`Value::Ext`].

use super::bigint::{self, BIGINT_EXT};
use super::budget::{KEY, NODE};
use super::envelope::{Fields, TransportMessage};
use super::error::DecodeError;
use super::value::{Map, Value};

/// How deep arrays and maps may nest, as in `serde_json`. The limit keeps a hostile frame from
/// exhausting the stack.
pub(super) const MAX_DEPTH: usize = 128;

/// Reads exactly one value from `input`, taking at most `limit` bytes for it
/// ([`DecodeBudget`](super::DecodeBudget)).
pub(super) fn read(input: &[u8], limit: usize) -> Result<Value, DecodeError> {
    Reader::new(input, MAX_DEPTH, limit).whole()
}

/// Reads exactly one value that is neither an array nor a map, leaving extensions as they are:
/// the data of a big-integer extension, which must not nest (a hostile frame could otherwise
/// nest extensions as deep as its length allows).
pub(super) fn read_scalar(input: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader::new(input, 0, usize::MAX);
    reader.bigints = false;
    reader.whole().map_err(|e| match e {
        DecodeError::TooDeep(_) => DecodeError::InvalidBigInt(
            "it must hold an integer or a decimal string, found an array or a map".into(),
        ),
        other => other,
    })
}

/// Reads a frame holding one envelope map straight into the envelope's fields, without
/// building a map for the envelope (its keys are only looked at, never copied). `None` when the
/// frame is not a map with string keys, or does not read cleanly: the caller then reads it with
/// [`read`] to find out exactly why. Field values are read as [`read`] reads them, within the
/// same `limit`; a frame over it fails here, not read a second time.
pub(super) fn read_envelope(
    input: &[u8],
    limit: usize,
) -> Option<Result<TransportMessage, DecodeError>> {
    let mut reader = Reader::new(input, MAX_DEPTH, limit);
    let len = match reader.u8().ok()? {
        marker @ 0x80..=0x8f => usize::from(marker & 0x0f),
        0xde => usize::from(reader.u16().ok()?),
        0xdf => Reader::len(reader.u32().ok()?),
        _ => return None,
    };
    let mut fields = Fields::default();
    for _ in 0..len {
        let key = reader.key()?;
        // The envelope is at depth 0, so its values nest from depth 1, as in `read`.
        let value = match reader.value(1) {
            Ok(value) => value,
            Err(e @ DecodeError::OverBudget { .. }) => return Some(Err(e)),
            Err(_) => return None,
        };
        match Fields::index(key) {
            Some(index) => fields.set(index, value),
            // A key that names no field must still be text, as `read` requires.
            None => drop(std::str::from_utf8(key).ok()?),
        }
    }
    if !reader.input.is_empty() {
        return None;
    }
    Some(TransportMessage::from_fields(&mut fields).map_err(DecodeError::from))
}

struct Reader<'a> {
    input: &'a [u8],
    max_depth: usize,
    /// Whether extension type 0 is read as a big integer.
    bigints: bool,
    /// The budget for the whole value, and what is left of it.
    limit: usize,
    left: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8], max_depth: usize, limit: usize) -> Self {
        Reader {
            input,
            max_depth,
            bigints: true,
            limit,
            left: limit,
        }
    }

    /// Counts `n` bytes of decoded value against the budget.
    fn spend(&mut self, n: usize) -> Result<(), DecodeError> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(DecodeError::OverBudget { limit: self.limit }),
        }
    }

    fn whole(mut self) -> Result<Value, DecodeError> {
        let value = self.value(0)?;
        if self.input.is_empty() {
            Ok(value)
        } else {
            Err(DecodeError::TrailingBytes(self.input.len()))
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.input.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        // `take` returned exactly N bytes.
        bytes.try_into().map_err(|_| DecodeError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A length field; on a 16-bit target a length past `usize` cannot fit in the input anyway.
    fn len(n: u32) -> usize {
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// The bytes of a map key that is a string, borrowed from the input; whether they are text
    /// is the caller's to check (the envelope's own names are, and need no check).
    fn key(&mut self) -> Option<&'a [u8]> {
        let len = match self.u8().ok()? {
            marker @ 0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => usize::from(self.u8().ok()?),
            0xda => usize::from(self.u16().ok()?),
            0xdb => Self::len(self.u32().ok()?),
            _ => return None,
        };
        self.take(len).ok()
    }

    fn string(&mut self, len: usize) -> Result<Value, DecodeError> {
        let bytes = self.take(len)?;
        self.spend(len)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        Ok(Value::String(s.to_owned()))
    }

    fn bytes(&mut self, len: usize) -> Result<Value, DecodeError> {
        let bytes = self.take(len)?;
        self.spend(len)?;
        Ok(Value::Bytes(bytes.to_vec()))
    }

    fn ext(&mut self, len: usize) -> Result<Value, DecodeError> {
        let tag = i8::from_be_bytes(self.array()?);
        let data = self.take(len)?;
        self.spend(len)?;
        if self.bigints && tag == BIGINT_EXT {
            return bigint::from_ext_data(data).map(Value::Int);
        }
        Ok(Value::Ext(tag, data.to_vec()))
    }

    fn seq(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        // Every element takes at least one byte, so the input bounds an honest length; a larger
        // one fails as truncated before it can allocate much. Nor is more reserved than the
        // budget has left: each element is counted as it is read.
        let mut items = Vec::with_capacity(len.min(self.input.len()).min(self.left / NODE));
        for _ in 0..len {
            items.push(self.value(depth)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut map =
            Map::with_capacity(len.min(self.input.len() / 2).min(self.left / (NODE + KEY)));
        for _ in 0..len {
            self.spend(KEY)?;
            let key = match self.value(depth)? {
                Value::String(key) => key,
                other => {
                    return Err(DecodeError::NonStringKey {
                        found: other.kind(),
                    });
                }
            };
            let value = self.value(depth)?;
            map.insert(key, value);
        }
        Ok(Value::Map(map))
    }

    fn nested(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= self.max_depth {
            Err(DecodeError::TooDeep(self.max_depth))
        } else {
            Ok(depth + 1)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let marker = self.u8()?;
        self.spend(NODE)?;
        Ok(match marker {
            0x00..=0x7f => Value::Int(i128::from(marker)),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), self.nested(depth)?)?,
            0x90..=0x9f => self.seq(usize::from(marker & 0x0f), self.nested(depth)?)?,
            0xa0..=0xbf => self.string(usize::from(marker & 0x1f))?,
            0xc0 => Value::Null,
            0xc1 => return Err(DecodeError::ReservedMarker),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let len = self.u8()?;
                self.bytes(usize::from(len))?
            }
            0xc5 => {
                let len = self.u16()?;
                self.bytes(usize::from(len))?
            }
            0xc6 => {
                let len = self.u32()?;
                self.bytes(Self::len(len))?
            }
            0xc7 => {
                let len = self.u8()?;
                self.ext(usize::from(len))?
            }
            0xc8 => {
                let len = self.u16()?;
                self.ext(usize::from(len))?
            }
            0xc9 => {
                let len = self.u32()?;
                self.ext(Self::len(len))?
            }
            0xca => Value::Float(f64::from(f32::from_be_bytes(self.array()?))),
            0xcb => Value::Float(f64::from_be_bytes(self.array()?)),
            0xcc => Value::Int(i128::from(self.u8()?)),
            0xcd => Value::Int(i128::from(self.u16()?)),
            0xce => Value::Int(i128::from(self.u32()?)),
            0xcf => Value::Int(i128::from(self.u64()?)),
            0xd0 => Value::Int(i128::from(i8::from_be_bytes(self.array()?))),
            0xd1 => Value::Int(i128::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Value::Int(i128::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Value::Int(i128::from(i64::from_be_bytes(self.array()?))),
            0xd4 => self.ext(1)?,
            0xd5 => self.ext(2)?,
            0xd6 => self.ext(4)?,
            0xd7 => self.ext(8)?,
            0xd8 => self.ext(16)?,
            0xd9 => {
                let len = self.u8()?;
                self.string(usize::from(len))?
            }
            0xda => {
                let len = self.u16()?;
                self.string(usize::from(len))?
            }
            0xdb => {
                let len = self.u32()?;
                self.string(Self::len(len))?
            }
            0xdc => {
                let len = self.u16()?;
                self.seq(usize::from(len), self.nested(depth)?)?
            }
            0xdd => {
                let len = self.u32()?;
                self.seq(Self::len(len), self.nested(depth)?)?
            }
            0xde => {
                let len = self.u16()?;
                self.map(usize::from(len), self.nested(depth)?)?
            }
            0xdf => {
                let len = self.u32()?;
                self.map(Self::len(len), self.nested(depth)?)?
            }
            0xe0..=0xff => Value::Int(i128::from(i8::from_be_bytes([marker]))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marker_family_reads() {
        let cases: [(&[u8], Value); 20] = [
            (b"\x7f", Value::Int(127)),
            (b"\xe0", Value::Int(-32)),
            (b"\xcc\xff", Value::Int(255)),
            (b"\xcd\x01\x00", Value::Int(256)),
            (b"\xce\x00\x01\x00\x00", Value::Int(65536)),
            (
                b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
                Value::Int(u64::MAX.into()),
            ),
            (b"\xd0\x80", Value::Int(-128)),
            (b"\xd1\x80\x00", Value::Int(-32768)),
            (b"\xd2\x80\x00\x00\x00", Value::Int(i32::MIN.into())),
            (
                b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
                Value::Int(i64::MIN.into()),
            ),
            (b"\xca\x3f\xc0\x00\x00", Value::Float(1.5)),
            (b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", Value::Float(1.5)),
            (b"\xd9\x01a", Value::from("a")),
            (b"\xda\x00\x01a", Value::from("a")),
            (b"\xdb\x00\x00\x00\x01a", Value::from("a")),
            (b"\xc5\x00\x01\x07", Value::Bytes(vec![7])),
            (b"\xc6\x00\x00\x00\x01\x07", Value::Bytes(vec![7])),
            (b"\xd4\x05\x07", Value::Ext(5, vec![7])),
            (b"\xc7\x01\xff\x07", Value::Ext(-1, vec![7])),
            (b"\xdc\x00\x01\xc3", Value::Array(vec![Value::Bool(true)])),
        ];
        for (bytes, expected) in cases {
            assert_eq!(read(bytes, usize::MAX).unwrap(), expected, "{bytes:02x?}");
        }
        let m = read(b"\xde\x00\x01\xa1k\xc2", usize::MAX).unwrap();
        assert_eq!(m.get("k"), Some(&Value::Bool(false)));
    }

    #[test]
    fn huge_declared_lengths_fail_without_allocating() {
        for bytes in [
            &b"\xdd\xff\xff\xff\xff"[..],
            b"\xdf\xff\xff\xff\xff",
            b"\xdb\xff\xff\xff\xff",
            b"\xc6\xff\xff\xff\xff",
            b"\xc9\xff\xff\xff\xff\x01",
        ] {
            assert!(
                matches!(read(bytes, usize::MAX), Err(DecodeError::Truncated)),
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn depth_limit() {
        let mut ok = vec![0x91; MAX_DEPTH];
        ok.push(0xc0);
        assert!(read(&ok, usize::MAX).is_ok());
        let mut too_deep = vec![0x91; MAX_DEPTH + 1];
        too_deep.push(0xc0);
        assert!(matches!(
            read(&too_deep, usize::MAX),
            Err(DecodeError::TooDeep(_))
        ));
    }
}
