//! How much memory decoding one frame may take.
//!
//! A decoded [`Value`] costs more than the bytes it came from: a msgpack `nil` is one byte and
//! a `Value` is 32, so a frame of nothing but `nil`s would take 32 times its size. The budget
//! caps that multiple. The msgpack reader counts as it goes; JSON goes through serde, so its
//! lists and maps pay for the room they reserve from a budget kept for the thread while a frame
//! is decoded.

use std::cell::Cell;
use std::mem::size_of;

use super::value::Value;

/// A limit on the memory one decoded frame may take: `per_byte` bytes for every byte of the
/// frame, and never less than `floor`. A frame that would take more is refused
/// ([`DecodeError::OverBudget`](super::DecodeError::OverBudget)) as soon as its count passes
/// the limit, before it has taken more.
///
/// What counts is what the decoded message keeps: 32 bytes for every value (the size of a
/// [`Value`]), 80 more for every map key (as a value, plus its hash and index slot), and the
/// bytes of strings, keys, byte strings and extensions. msgpack, whose lists and maps declare
/// their length, is counted value by value as it is read. JSON is counted by the room its
/// lists and maps reserve as they grow (32 bytes per list slot, 112 per map entry), with the
/// frame's own size set aside for its strings; while a list moves to larger storage it briefly
/// holds the old and the new, so the most a frame holds at once is under twice its limit.
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

/// What a map entry costs beyond its key's bytes, when JSON grows a map: its key (counted as a
/// value, and its hash and index slot) and its value.
pub(super) const ENTRY: usize = NODE + KEY + NODE;

thread_local! {
    /// The bytes the JSON frame this thread is decoding may still take, and whether it ran
    /// out; `usize::MAX` when no frame is being decoded.
    static LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
    static OVER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `decode` with `limit` bytes of budget for the lists and maps it grows on this thread,
/// and says whether it ran out. Budgets nest: the previous one is restored afterwards.
pub(super) fn within<R>(limit: usize, decode: impl FnOnce() -> R) -> (R, bool) {
    let previous = (LEFT.replace(limit), OVER.replace(false));
    let result = decode();
    LEFT.set(previous.0);
    let over = OVER.replace(previous.1);
    (result, over)
}

/// Pays for the growth of a full list or map of `len` items of `size` bytes each from the
/// thread's budget, and returns how many items to make room for: as many again as it holds (at
/// least 4), no more than the budget has left. `None` when not even one more fits: the value
/// must not grow.
pub(super) fn grow(len: usize, size: usize) -> Option<usize> {
    let left = LEFT.get();
    let room = len.max(4).min(left / size);
    if room == 0 {
        OVER.set(true);
        return None;
    }
    if left != usize::MAX {
        LEFT.set(left - room * size);
    }
    Some(room)
}

/// The error a serde visitor returns when [`grow`] refuses.
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
    fn growth_is_paid_for_and_budgets_nest() {
        assert_eq!(grow(100, 8), Some(100), "no budget outside `within`");
        let ((), over) = within(100, || {
            assert_eq!(grow(0, 10), Some(4));
            let ((), inner) = within(5, || assert_eq!(grow(4, 10), None));
            assert!(inner);
            assert_eq!(grow(4, 10), Some(4), "40 of the 60 left");
            assert_eq!(grow(8, 10), Some(2), "what is left");
            assert_eq!(grow(10, 10), None);
        });
        assert!(over);
        let ((), over) = within(100, || assert_eq!(grow(4, 25), Some(4)));
        assert!(!over);
    }
}
