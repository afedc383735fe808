//! What a session carries from state to state, and the sequencing rules that act on it.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::options::SessionOptions;
use crate::wire::{
    CodecKind, EncodeError, Outbound, PartialMessage, ProtocolVersion, Tracing, TransportMessage,
    Value,
};

/// A message that was sequenced and encoded, kept until the peer acknowledges it.
#[derive(Debug, Clone, PartialEq)]
pub struct BufferedFrame {
    /// Its `seq`.
    pub seq: u64,
    /// Its `id`.
    pub id: String,
    /// The encoded frame, written again as is after a reconnect. Shared with the connection
    /// that writes it, so writing does not copy it.
    pub frame: Bytes,
    /// The bytes of this frame and of every frame buffered before it, counted from an empty
    /// buffer: differences between frames give the bytes between them.
    pub bytes_through: u64,
}

/// River's inherited session properties: everything that survives a change of state.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The session's id; empty on a server connection whose handshake has not arrived yet.
    pub id: String,
    /// This side's client (or server) id.
    pub from: String,
    /// The peer's id; empty on a server connection whose handshake has not arrived yet.
    pub to: String,
    /// The `seq` the next sent message takes.
    pub seq: u64,
    /// The `seq` expected next from the peer.
    pub ack: u64,
    /// Sent or queued messages the peer has not acknowledged, in `seq` order.
    pub send_buffer: VecDeque<BufferedFrame>,
    /// The protocol version this session speaks.
    pub version: ProtocolVersion,
    /// The codec this session's frames use.
    pub codec: CodecKind,
    /// Timing and sizing.
    pub options: SessionOptions,
    /// When the session ends if it has not (re)connected by then. Set when the session is
    /// created without a connection or loses one; cleared once connected.
    pub grace_deadline: Option<Instant>,
    /// The handshake metadata the peer sent (server side), as last accepted.
    pub metadata: Option<Value>,
    /// The oldest buffered message's `seq` when the liveness watchdog last saw it, and since
    /// when it has been the oldest ([`ack_stalled`](Self::ack_stalled)). Kept by the watchdog,
    /// so sending and receiving never read the clock for it.
    pub ack_wait: Option<(u64, Instant)>,
    /// The trace context sent with this session's handshakes (client side).
    pub tracing: Option<Tracing>,
}

/// Why a message could not be sequenced. Either way it took no `seq`.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// The message does not encode.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The encoded frame exceeds [`SessionOptions::max_message_size`].
    #[error("the message encodes to {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The send buffer is at [`SessionOptions::send_buffer_max_messages`] or
    /// [`SessionOptions::send_buffer_max_bytes`].
    #[error(
        "the send buffer is full: {messages} messages ({bytes} bytes) wait for the peer's acknowledgement"
    )]
    BufferFull {
        /// Messages in the buffer.
        messages: usize,
        /// Their bytes.
        bytes: u64,
    },
}

/// What became of one inbound message under the sequencing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// `from` is not the session's peer: the message is invalid.
    NotFromPeer,
    /// Already received (`seq` below `ack`): dropped.
    Duplicate,
    /// A message is missing before this one: the connection must be dropped so the next
    /// handshake can re-agree.
    Gap {
        /// The `seq` that was expected.
        expected: u64,
        /// The `seq` that arrived.
        got: u64,
    },
    /// In order: acknowledged messages were trimmed from the buffer and `ack` moved on.
    Accepted,
}

impl SessionContext {
    /// A context with counters at zero and an empty buffer.
    pub fn new(
        id: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        version: ProtocolVersion,
        options: SessionOptions,
    ) -> Self {
        SessionContext {
            id: id.into(),
            from: from.into(),
            to: to.into(),
            seq: 0,
            ack: 0,
            send_buffer: VecDeque::new(),
            version,
            codec: options.codec,
            options,
            grace_deadline: None,
            metadata: None,
            ack_wait: None,
            tracing: None,
        }
    }

    /// The `seq` of the oldest unacknowledged message, or the next `seq` when none is waiting.
    pub fn next_sent_seq(&self) -> u64 {
        self.send_buffer.front().map_or(self.seq, |f| f.seq)
    }

    /// Addresses, sequences and encodes `msg`, and appends it to the send buffer.
    ///
    /// Encoding comes first: a message that cannot be encoded takes no `seq` and leaves the
    /// session as it was.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "the message is spent: once encoded, only its frame is kept"
    )]
    pub fn sequence(&mut self, msg: PartialMessage) -> Result<&BufferedFrame, SequenceError> {
        let id = generate_id();
        let outbound = Outbound::new(&msg, &id, (&self.from, &self.to), (self.seq, self.ack));
        let frame = self.codec.encode_outbound(&outbound)?;
        self.buffer(id, frame, false)
    }

    /// Like [`sequence`](Self::sequence) for a heartbeat, which it builds without allocating
    /// anything but its id and frame.
    pub fn sequence_heartbeat(&mut self) -> Result<&BufferedFrame, SequenceError> {
        let id = generate_id();
        let outbound = Outbound::heartbeat(&id, (&self.from, &self.to), (self.seq, self.ack));
        let frame = self.codec.encode_outbound(&outbound)?;
        self.buffer(id, frame, true)
    }

    /// The bytes of the frames in the send buffer.
    pub fn buffered_bytes(&self) -> u64 {
        match (self.send_buffer.front(), self.send_buffer.back()) {
            (Some(first), Some(last)) => {
                last.bytes_through - first.bytes_through + first.frame.len() as u64
            }
            _ => 0,
        }
    }

    /// Whether the send buffer holds as many messages or bytes as it may.
    pub fn is_full(&self) -> bool {
        self.send_buffer.len() >= self.options.send_buffer_max_messages
            || self.buffered_bytes() >= self.options.send_buffer_max_bytes
    }

    /// Takes the next `seq` for an encoded frame and appends it to the send buffer, unless it
    /// is over the size limit or the buffer is full. A heartbeat (`exempt`) is buffered even
    /// then: it carries the ack the peer needs and shows it this side is alive.
    fn buffer(
        &mut self,
        id: String,
        frame: Vec<u8>,
        exempt: bool,
    ) -> Result<&BufferedFrame, SequenceError> {
        let limit = self.options.max_message_size;
        if frame.len() > limit {
            return Err(SequenceError::TooLarge {
                size: frame.len(),
                limit,
            });
        }
        if !exempt && self.is_full() {
            return Err(SequenceError::BufferFull {
                messages: self.send_buffer.len(),
                bytes: self.buffered_bytes(),
            });
        }
        let index = self.send_buffer.len();
        let before = self.send_buffer.back().map_or(0, |f| f.bytes_through);
        self.send_buffer.push_back(BufferedFrame {
            seq: self.seq,
            id,
            bytes_through: before + frame.len() as u64,
            frame: Bytes::from(frame),
        });
        self.seq += 1;
        Ok(&self.send_buffer[index])
    }

    /// Applies the sequencing rules to an inbound message (`docs/protocol.md` section 5).
    pub fn receive(&mut self, msg: &TransportMessage) -> Receipt {
        if msg.from != self.to {
            return Receipt::NotFromPeer;
        }
        if msg.seq < self.ack {
            return Receipt::Duplicate;
        }
        if msg.seq > self.ack {
            return Receipt::Gap {
                expected: self.ack,
                got: msg.seq,
            };
        }
        while self.send_buffer.front().is_some_and(|f| f.seq < msg.ack) {
            self.send_buffer.pop_front();
        }
        self.ack = msg.seq + 1;
        Receipt::Accepted
    }

    /// Looks at the send buffer at `now`: whether its oldest message has been the oldest (no
    /// acknowledgement has taken it) for `timeout` or more since a look first saw it. A look
    /// that finds a new oldest message, or none, starts over.
    pub fn ack_stalled(&mut self, now: Instant, timeout: Duration) -> bool {
        let Some(oldest) = self.send_buffer.front().map(|f| f.seq) else {
            self.ack_wait = None;
            return false;
        };
        match self.ack_wait {
            Some((seq, since)) if seq == oldest => now >= since + timeout,
            _ => {
                self.ack_wait = Some((oldest, now));
                false
            }
        }
    }

    /// Counts the oldest message's wait from `now` again (a new connection, or a pause in
    /// reading, during which no acknowledgement could be seen).
    pub fn restart_ack_wait(&mut self, now: Instant) {
        if let Some((_, since)) = self.ack_wait.as_mut() {
            *since = now;
        }
    }

    /// Whether the send buffer is at or above its high-water mark.
    pub fn is_backpressured(&self) -> bool {
        self.send_buffer.len() >= self.options.send_buffer_high_water_mark
    }

    /// Encodes a handshake message (`seq` and `ack` 0) without touching the counters.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "the message is spent: once encoded, only its frame is kept"
    )]
    pub fn encode_handshake(&self, msg: PartialMessage) -> Result<Vec<u8>, EncodeError> {
        let id = generate_id();
        self.codec
            .encode_outbound(&Outbound::new(&msg, &id, (&self.from, &self.to), (0, 0)))
    }
}

const ID_ALPHABET: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";

/// A random 12-character id (message, stream and session ids), like River's TypeScript ids.
/// Each character is 6 random bits, so every one of the 64 characters is equally likely.
pub fn generate_id() -> String {
    let mut bits: u128 = rand::random();
    let mut id = String::with_capacity(12);
    for _ in 0..12 {
        // The mask keeps the index below 64.
        id.push(char::from(ID_ALPHABET[(bits & 63) as usize]));
        bits >>= 6;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Codec, MessageHeader, PartialMessage};

    fn ctx() -> SessionContext {
        SessionContext::new(
            "s1",
            "client",
            "server",
            ProtocolVersion::V2_0,
            SessionOptions::default(),
        )
    }

    fn inbound(seq: u64, ack: u64) -> TransportMessage {
        PartialMessage::heartbeat().into_message(MessageHeader {
            id: generate_id(),
            from: "server".into(),
            to: "client".into(),
            seq,
            ack,
        })
    }

    #[test]
    fn sequencing_stamps_and_buffers() {
        let mut c = ctx();
        assert_eq!(c.next_sent_seq(), 0);
        for _ in 0..3 {
            c.sequence(PartialMessage::heartbeat()).unwrap();
        }
        assert_eq!(c.seq, 3);
        assert_eq!(c.next_sent_seq(), 0);
        let decoded = c.codec.decode(&c.send_buffer[2].frame).unwrap();
        assert_eq!(
            (decoded.seq, decoded.ack, decoded.from.as_str()),
            (2, 0, "client")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_ack_stall_is_the_same_oldest_message_for_the_timeout() {
        let timeout = Duration::from_secs(5);
        let mut c = ctx();
        assert!(!c.ack_stalled(Instant::now(), timeout), "nothing waits");
        c.sequence(PartialMessage::heartbeat()).unwrap();
        c.sequence(PartialMessage::heartbeat()).unwrap();
        let first = Instant::now();
        assert!(
            !c.ack_stalled(first, timeout),
            "a first look starts the wait"
        );
        assert!(!c.ack_stalled(first + Duration::from_secs(4), timeout));
        assert!(
            c.ack_stalled(first + timeout, timeout),
            "the same oldest, 5 s on"
        );
        // An acknowledgement of the first message makes the second the oldest: a new wait.
        assert_eq!(c.receive(&inbound(0, 1)), Receipt::Accepted);
        assert!(!c.ack_stalled(first + timeout, timeout));
        assert!(!c.ack_stalled(first + Duration::from_secs(9), timeout));
        c.restart_ack_wait(first + Duration::from_secs(9));
        assert!(
            !c.ack_stalled(first + Duration::from_secs(13), timeout),
            "restarted"
        );
        assert!(c.ack_stalled(first + Duration::from_secs(14), timeout));
        assert_eq!(c.receive(&inbound(1, 2)), Receipt::Accepted);
        assert!(
            !c.ack_stalled(first + Duration::from_secs(60), timeout),
            "all acknowledged"
        );
        assert_eq!(c.ack_wait, None);
    }

    #[test]
    fn a_message_that_fails_to_encode_takes_no_seq() {
        let mut c = ctx();
        let mut bad = PartialMessage::heartbeat();
        bad.payload = Value::Float(f64::NAN);
        assert!(c.sequence(bad).is_err());
        assert_eq!((c.seq, c.send_buffer.len()), (0, 0));
        c.sequence(PartialMessage::heartbeat()).unwrap();
        assert_eq!(c.send_buffer[0].seq, 0);
    }

    #[test]
    fn an_oversized_message_is_refused_and_takes_no_seq() {
        let mut c = ctx();
        c.options.max_message_size = 200;
        let mut big = PartialMessage::heartbeat();
        big.payload = Value::String("x".repeat(300));
        match c.sequence(big) {
            Err(SequenceError::TooLarge { size, limit: 200 }) => assert!(size > 300),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!((c.seq, c.send_buffer.len()), (0, 0));
        c.sequence(PartialMessage::heartbeat()).unwrap();
    }

    #[test]
    fn receive_rules() {
        let mut c = ctx();
        for _ in 0..3 {
            c.sequence(PartialMessage::heartbeat()).unwrap();
        }
        assert_eq!(
            c.receive(&inbound(1, 0)),
            Receipt::Gap {
                expected: 0,
                got: 1
            }
        );
        assert_eq!(c.receive(&inbound(0, 2)), Receipt::Accepted);
        assert_eq!(c.ack, 1);
        assert_eq!(c.next_sent_seq(), 2, "acks trim the buffer");
        assert_eq!(c.receive(&inbound(0, 3)), Receipt::Duplicate);
        assert_eq!(c.send_buffer.len(), 1, "a duplicate trims nothing");
        let mut stranger = inbound(1, 3);
        stranger.from = "someone".into();
        assert_eq!(c.receive(&stranger), Receipt::NotFromPeer);
        assert_eq!(c.ack, 1);
    }

    #[test]
    fn ids_are_twelve_url_safe_chars() {
        let id = generate_id();
        assert_eq!(id.len(), 12);
        assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)));
        assert_ne!(generate_id(), id);
    }
}
