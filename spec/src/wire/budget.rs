//! How much memory decoding one frame may take.
//!
//! A decoded [`Value`] costs more than the bytes it came from: a msgpack `nil` is one byte and
//! a `Value` is 32, so a frame of nothing but `nil`s would take 32 times its size. The budget
//! caps that multiple. The msgpack reader counts as it goes; JSON goes through serde, so its
//! values count against a budget kept for the thread while a frame is decoded.

use std::cell::Cell;
use std::mem::size_of;

use super::value::Value;

/// A limit on the memory one decoded frame may take: `per_byte` bytes for every byte of the
/// frame, and never less than `floor`. A frame that would take more is refused
/// ([`DecodeError::OverBudget`](super::DecodeError::OverBudget)) as soon as its count passes
/// the limit, before it has taken more.
///
/// What counts is what the decoded message keeps: 32 bytes for every value (the size of a
/// [`Value`]), 32 and 48 more for every map key (its `String`, hash and index slot), the bytes
/// of every string, key, byte string and extension, and the spare capacity of lists and maps
/// as they grow. While a list or map grows it briefly holds its old and new storage, so the
/// most a frame holds at once is under twice its limit.
///
/// The default (32 per byte, at least 1 MiB) admits every frame of up to 16 KiB whatever it
/// holds, and every larger frame whose values average more than one byte each: one-byte
/// values (`nil`, booleans, small integers, empty lists) cost exactly 32 per byte, and
/// ordinary River messages (a few keys, short strings) 3 to 10. What it refuses are large
/// frames made of maps with empty or one-letter keys and one-byte values, which cost up to 56
/// per byte; a smaller `per_byte` refuses more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeBudget {
    /// Bytes of decoded value allowed per byte of frame (32).
    pub per_byte: usize,
    /// Bytes allowed whatever the frame's size (1 MiB).
    pub floor: usize,
}

impl DecodeBudget {
    /// 32 bytes per byte of frame, and at least 1 MiB.
    pub const DEFAULT: DecodeBudget = DecodeBudget {
        per_byte: 32,
        floor: 1024 * 1024,
    };

    /// No limit.
    pub const UNLIMITED: DecodeBudget = DecodeBudget {
        per_byte: usize::MAX,
        floor: usize::MAX,
    };

    /// The bytes a frame of `len` bytes may take.
    pub fn for_frame(self, len: usize) -> usize {
        self.per_byte.saturating_mul(len).max(self.floor)
    }
}

impl Default for DecodeBudget {
    fn default() -> Self {
        DecodeBudget::DEFAULT
    }
}

/// What one value costs, before its strings and entries.
pub(super) const NODE: usize = size_of::<Value>();

/// What a map key costs beyond its bytes: its `String`, and its hash and slot in the map's
/// index.
pub(super) const KEY: usize = size_of::<String>() + 24;

/// The budget of the JSON frame this thread is decoding, if it is decoding one.
#[derive(Debug, Clone, Copy)]
struct Left {
    bytes: usize,
    over: bool,
}

thread_local! {
    static LEFT: Cell<Option<Left>> = const { Cell::new(None) };
}

/// Runs `decode` with `limit` bytes of budget for the values it deserializes on this thread,
/// and says whether it ran out. Budgets nest: the previous one is restored afterwards.
pub(super) fn within<R>(limit: usize, decode: impl FnOnce() -> R) -> (R, bool) {
    let previous = LEFT.replace(Some(Left {
        bytes: limit,
        over: false,
    }));
    let result = decode();
    let over = LEFT.replace(previous).is_some_and(|left| left.over);
    (result, over)
}

/// Spends `n` bytes of the thread's budget, if there is one. `false` once it is spent: the
/// value must not be built.
pub(super) fn charge(n: usize) -> bool {
    LEFT.with(|cell| match cell.get() {
        None => true,
        Some(left) if n <= left.bytes => {
            cell.set(Some(Left {
                bytes: left.bytes - n,
                over: false,
            }));
            true
        }
        Some(_) => {
            cell.set(Some(Left {
                bytes: 0,
                over: true,
            }));
            false
        }
    })
}

/// How many more items of `size` bytes a list of `len` should make room for when it is full:
/// as many again as it holds (at least 4), but no more than the thread's budget has left, so
/// that a list's spare capacity is paid for too.
pub(super) fn growth(len: usize, size: usize) -> usize {
    let left = LEFT.with(Cell::get).map_or(usize::MAX, |left| left.bytes);
    len.max(4).min(left / size).max(1)
}

/// The error a serde visitor returns when [`charge`] refuses.
pub(super) const SPENT: &str = "the frame is over its decode budget";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_scales_with_the_frame_above_the_floor() {
        let budget = DecodeBudget {
            per_byte: 4,
            floor: 100,
        };
        assert_eq!(budget.for_frame(10), 100);
        assert_eq!(budget.for_frame(1000), 4000);
        assert_eq!(DecodeBudget::UNLIMITED.for_frame(1 << 40), usize::MAX);
    }

    #[test]
    fn charges_count_down_and_nest() {
        assert!(charge(usize::MAX), "no budget outside `within`");
        let ((), over) = within(10, || {
            assert!(charge(6));
            let ((), inner) = within(1, || assert!(!charge(2)));
            assert!(inner);
            assert!(charge(4));
            assert!(!charge(1));
        });
        assert!(over);
        let ((), over) = within(10, || assert!(charge(10)));
        assert!(!over);
    }
}
