//! Protocol versions and the `controlFlags` bit field.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::str::FromStr;

/// A River protocol version, as sent in `HANDSHAKE_REQ.protocolVersion`.
///
/// The versions differ on the wire only in `controlFlags` (see [`ControlFlags`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// `"v1.1"`: bit 4 closes a stream; there is no cancel.
    V1_1,
    /// `"v2.0"`: bit 4 cancels a stream, bit 8 closes it.
    V2_0,
}

impl ProtocolVersion {
    /// The version River's current clients send.
    pub const CURRENT: ProtocolVersion = ProtocolVersion::V2_0;

    /// Every version, oldest first.
    pub const ALL: [ProtocolVersion; 2] = [ProtocolVersion::V1_1, ProtocolVersion::V2_0];

    /// The wire string: `"v1.1"` or `"v2.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V1_1 => "v1.1",
            ProtocolVersion::V2_0 => "v2.0",
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `protocolVersion` string that names no version this crate speaks.
///
/// A server answers it with `PROTOCOL_VERSION_MISMATCH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported protocol version {0:?}: expected \"v1.1\" or \"v2.0\"")]
pub struct UnknownVersion(pub String);

impl FromStr for ProtocolVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProtocolVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVersion(s.to_owned()))
    }
}

/// A flag that the session's protocol version cannot express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("protocol {version} has no {flag} bit")]
pub struct UnsupportedFlag {
    /// The flag's name.
    pub flag: &'static str,
    /// The version that lacks it.
    pub version: ProtocolVersion,
}

/// The meaning of a message's `controlFlags`, independent of the protocol version.
///
/// Bits on the wire:
///
/// | bit | v1.1 | v2.0 |
/// |---|---|---|
/// | 1 | `ack` | `ack` |
/// | 2 | `open` | `open` |
/// | 4 | `closed` | `cancel` |
/// | 8 | (reserved) | `closed` |
///
/// The table lives in one private place, read only by [`to_bits`](ControlFlags::to_bits) and
/// [`from_bits`](ControlFlags::from_bits); everything else goes through those two, so a session that accepted a v1.1
/// client maps bit 4 correctly in both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "a bit set: each flag is independent of the others"
)]
pub struct ControlFlags {
    /// Heartbeat (`AckBit`).
    pub ack: bool,
    /// The message opens a stream (`StreamOpenBit`).
    pub open: bool,
    /// The sender closes its half of the stream (`StreamClosedBit`).
    pub closed: bool,
    /// The sender aborts the stream (`StreamCancelBit`, v2.0 only).
    pub cancel: bool,
}

impl ControlFlags {
    /// No flags: an ordinary message, or a handshake.
    pub const NONE: ControlFlags = ControlFlags {
        ack: false,
        open: false,
        closed: false,
        cancel: false,
    };
    /// Only `ack`: a heartbeat.
    pub const ACK: ControlFlags = ControlFlags {
        ack: true,
        ..ControlFlags::NONE
    };
    /// Only `open`.
    pub const OPEN: ControlFlags = ControlFlags {
        open: true,
        ..ControlFlags::NONE
    };
    /// Only `closed`.
    pub const CLOSED: ControlFlags = ControlFlags {
        closed: true,
        ..ControlFlags::NONE
    };
    /// Only `cancel`.
    pub const CANCEL: ControlFlags = ControlFlags {
        cancel: true,
        ..ControlFlags::NONE
    };

    /// The wire bits for `version`.
    ///
    /// Fails for `cancel` under v1.1, which has no such bit: sending a close instead would let
    /// the peer take an abort for a clean end of stream, so the caller must decide what to do
    /// (River's server never cancels toward a v1.1 client).
    pub fn to_bits(self, version: ProtocolVersion) -> Result<u32, UnsupportedFlag> {
        if self.cancel && Layout::of(version).cancel == 0 {
            return Err(UnsupportedFlag {
                flag: "StreamCancel",
                version,
            });
        }
        Ok(self.bits_unchecked(version))
    }

    /// Reads wire bits under `version`.
    ///
    /// Bits the version does not define (bit 8 in v1.1, anything above 8) are ignored, as
    /// River's peers test each bit on its own; the envelope keeps the raw number, so nothing is
    /// lost by ignoring them here.
    pub fn from_bits(bits: u32, version: ProtocolVersion) -> ControlFlags {
        let layout = Layout::of(version);
        let has = |bit: u32| bit != 0 && bits & bit == bit;
        ControlFlags {
            ack: has(layout.ack),
            open: has(layout.open),
            closed: has(layout.closed),
            cancel: has(layout.cancel),
        }
    }

    /// [`to_bits`](Self::to_bits) for callers that hold no `cancel` under v1.1 (this crate's
    /// message builders); a `cancel` the version lacks is dropped.
    pub(super) fn bits_unchecked(self, version: ProtocolVersion) -> u32 {
        let layout = Layout::of(version);
        let bit = |on: bool, bit: u32| if on { bit } else { 0 };
        bit(self.ack, layout.ack)
            | bit(self.open, layout.open)
            | bit(self.closed, layout.closed)
            | bit(self.cancel, layout.cancel)
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self == ControlFlags::NONE
    }
}

impl BitOr for ControlFlags {
    type Output = ControlFlags;

    fn bitor(self, rhs: ControlFlags) -> ControlFlags {
        ControlFlags {
            ack: self.ack || rhs.ack,
            open: self.open || rhs.open,
            closed: self.closed || rhs.closed,
            cancel: self.cancel || rhs.cancel,
        }
    }
}

impl BitOrAssign for ControlFlags {
    fn bitor_assign(&mut self, rhs: ControlFlags) {
        *self = *self | rhs;
    }
}

/// Which bit each flag occupies in one version; 0 where the version has no such bit.
struct Layout {
    ack: u32,
    open: u32,
    closed: u32,
    cancel: u32,
}

impl Layout {
    const fn of(version: ProtocolVersion) -> Layout {
        match version {
            ProtocolVersion::V1_1 => Layout {
                ack: 1,
                open: 2,
                closed: 4,
                cancel: 0,
            },
            ProtocolVersion::V2_0 => Layout {
                ack: 1,
                open: 2,
                closed: 8,
                cancel: 4,
            },
        }
    }
}
