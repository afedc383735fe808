//! Session options with River's defaults, and the client's retry budget.

use std::time::Duration;

use tokio::time::Instant;

use crate::wire::{CodecKind, DecodeBudget};

/// Timing and sizing of one session (River's `SessionOptions`). `Default` gives River's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// How often the server sends a heartbeat while connected (1000 ms).
    pub heartbeat_interval: Duration,
    /// Heartbeat intervals of silence after which a connection is considered dead (2).
    pub heartbeats_until_dead: u32,
    /// How long a session may be without a connection before it ends (5000 ms). The deadline
    /// is absolute: reconnect attempts do not extend it.
    pub session_disconnect_grace: Duration,
    /// How long a dial may take (2000 ms). Backoff before the dial is not counted.
    pub connection_timeout: Duration,
    /// How long a handshake may take once connected (1000 ms).
    pub handshake_timeout: Duration,
    /// Whether a reconnecting client may resume its session (true). When false, every
    /// reconnect starts a new session.
    pub enable_transparent_reconnects: bool,
    /// Messages in the send buffer at or above which sending reports backpressure (1024).
    pub send_buffer_high_water_mark: usize,
    /// Most messages the send buffer holds (16,384). Past it, sending fails with
    /// [`SendError::BufferFull`](crate::session::SendError::BufferFull) until the peer
    /// acknowledges some; heartbeats are still sent.
    pub send_buffer_max_messages: usize,
    /// Most bytes of frames the send buffer holds (128 MiB), with the same effect as
    /// [`send_buffer_max_messages`](Self::send_buffer_max_messages). A message is refused only
    /// when the buffer is already at the limit, so one message of up to
    /// [`max_message_size`](Self::max_message_size) always fits in an empty buffer.
    pub send_buffer_max_bytes: u64,
    /// How long a connected peer may leave the oldest buffered message unacknowledged, with no
    /// acknowledgement at all in between, before the session ends with a protocol error (20 s).
    /// River peers acknowledge with every message and heartbeat, so a live one never comes
    /// close; the clock restarts on each acknowledgement, each new connection, and while this
    /// side holds back reading. The liveness watchdog looks, so a stall is seen up to one
    /// liveness timeout late.
    pub ack_timeout: Duration,
    /// The codec frames are written with.
    pub codec: CodecKind,
    /// Silence after which a v1.1 session's connection is considered dead (10 s). v1.1 peers
    /// keep their own heartbeat cadence and ignore ours (River's Python v1.1 package sends one
    /// every 2.5 s and gives up after 4 missed), so the v2.0 timeout would drop them while idle.
    pub v1_liveness_timeout: Duration,
    /// Largest frame this side sends, in bytes (100 MiB, what River's WebSocket server accepts).
    /// A larger message is refused when sent, so it can never wedge a session by being resent
    /// forever.
    pub max_message_size: usize,
    /// How much memory decoding one inbound frame may take ([`DecodeBudget::DEFAULT`]: 32
    /// bytes per byte of frame, at least 1 MiB). A frame over it is a protocol error that
    /// ends the session, as an undecodable frame does.
    pub decode_budget: DecodeBudget,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            heartbeat_interval: Duration::from_secs(1),
            heartbeats_until_dead: 2,
            session_disconnect_grace: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(1),
            enable_transparent_reconnects: true,
            send_buffer_high_water_mark: 1024,
            send_buffer_max_messages: 16 * 1024,
            send_buffer_max_bytes: 128 * 1024 * 1024,
            ack_timeout: Duration::from_secs(20),
            codec: CodecKind::Json,
            max_message_size: 100 * 1024 * 1024,
            v1_liveness_timeout: Duration::from_secs(10),
            decode_budget: DecodeBudget::DEFAULT,
        }
    }
}

impl SessionOptions {
    /// Silence after which the liveness watchdog closes a v2.0 connection.
    pub fn liveness_timeout(&self) -> Duration {
        self.heartbeat_interval * self.heartbeats_until_dead
    }

    /// Silence after which the liveness watchdog closes a connection speaking `version`.
    pub fn liveness_timeout_for(&self, version: crate::wire::ProtocolVersion) -> Duration {
        match version {
            crate::wire::ProtocolVersion::V1_1 => self.v1_liveness_timeout,
            crate::wire::ProtocolVersion::V2_0 => self.liveness_timeout(),
        }
    }
}

/// How a client paces reconnection attempts (River's `ConnectionRetryOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOptions {
    /// Backoff after the first used unit of budget (150 ms); doubles with each further unit.
    pub base_interval: Duration,
    /// Upper bound (exclusive) of the random jitter added to each backoff (200 ms).
    pub max_jitter: Duration,
    /// Cap on the backoff before jitter (32000 ms).
    pub max_backoff: Duration,
    /// Attempts that may be made without a successful handshake in between (5).
    pub attempt_budget_capacity: u32,
    /// After a successful handshake, one unit of budget comes back per interval (200 ms).
    pub budget_restore_interval: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            base_interval: Duration::from_millis(150),
            max_jitter: Duration::from_millis(200),
            max_backoff: Duration::from_secs(32),
            attempt_budget_capacity: 5,
            budget_restore_interval: Duration::from_millis(200),
        }
    }
}

/// The client's leaky bucket of connection attempts.
///
/// Each attempt consumes one unit; with none left the client stops trying. After a successful
/// handshake the bucket leaks one unit per restore interval until it is empty again, unless
/// another attempt is made first. The leak is computed from timestamps, so nothing runs in the
/// background.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    options: RetryOptions,
    consumed: u32,
    restoring_since: Option<Instant>,
}

impl RetryBudget {
    /// A full budget.
    pub fn new(options: RetryOptions) -> Self {
        RetryBudget {
            options,
            consumed: 0,
            restoring_since: None,
        }
    }

    /// The options the budget was made with.
    pub fn options(&self) -> &RetryOptions {
        &self.options
    }

    /// Units consumed as of `now`.
    pub fn consumed(&self, now: Instant) -> u32 {
        match self.restoring_since {
            None => self.consumed,
            Some(since) => {
                let interval = self.options.budget_restore_interval.as_nanos().max(1);
                let leaked = now.saturating_duration_since(since).as_nanos() / interval;
                let leaked = u32::try_from(leaked).unwrap_or(u32::MAX);
                self.consumed.saturating_sub(leaked)
            }
        }
    }

    /// Whether an attempt may be made at `now`.
    pub fn has_budget(&self, now: Instant) -> bool {
        self.consumed(now) < self.options.attempt_budget_capacity
    }

    /// Uses one unit for an attempt and stops any restoring.
    pub fn consume(&mut self, now: Instant) {
        self.consumed = self.consumed(now) + 1;
        self.restoring_since = None;
    }

    /// Starts giving units back, one per restore interval (after a successful handshake).
    pub fn start_restoring(&mut self, now: Instant) {
        if self.restoring_since.is_none() {
            self.consumed = self.consumed(now);
            self.restoring_since = Some(now);
        }
    }

    /// The wait before the next attempt: 0 while no unit is used, else
    /// `min(base * 2^(used-1), max_backoff) + jitter`, where `jitter` is drawn by the caller
    /// from `[0, max_jitter)` (see [`RetryBudget::draw_jitter`]).
    pub fn backoff(&self, now: Instant, jitter: Duration) -> Duration {
        let used = self.consumed(now);
        if used == 0 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow(used - 1);
        let base = self.options.base_interval.saturating_mul(factor);
        base.min(self.options.max_backoff) + jitter
    }

    /// A random jitter in `[0, max_jitter)`.
    pub fn draw_jitter(&self) -> Duration {
        let max = u64::try_from(self.options.max_jitter.as_millis()).unwrap_or(u64::MAX);
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::random_range(0..max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn defaults_are_rivers() {
        let s = SessionOptions::default();
        assert_eq!(s.heartbeat_interval, ms(1000));
        assert_eq!(s.heartbeats_until_dead, 2);
        assert_eq!(s.session_disconnect_grace, ms(5000));
        assert_eq!(s.connection_timeout, ms(2000));
        assert_eq!(s.handshake_timeout, ms(1000));
        assert_eq!(s.send_buffer_high_water_mark, 1024);
        assert_eq!(s.liveness_timeout(), ms(2000));
        assert_eq!(
            s.liveness_timeout_for(crate::wire::ProtocolVersion::V2_0),
            ms(2000)
        );
        assert_eq!(
            s.liveness_timeout_for(crate::wire::ProtocolVersion::V1_1),
            ms(10_000)
        );
        let r = RetryOptions::default();
        assert_eq!(
            (r.base_interval, r.max_jitter, r.max_backoff),
            (ms(150), ms(200), ms(32_000))
        );
        assert_eq!(
            (r.attempt_budget_capacity, r.budget_restore_interval),
            (5, ms(200))
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let now = Instant::now();
        let mut b = RetryBudget::new(RetryOptions {
            max_backoff: ms(500),
            attempt_budget_capacity: 10,
            ..RetryOptions::default()
        });
        assert_eq!(
            b.backoff(now, ms(7)),
            Duration::ZERO,
            "no budget used: no wait"
        );
        let mut seen = Vec::new();
        for _ in 0..5 {
            b.consume(now);
            seen.push(b.backoff(now, ms(0)));
        }
        assert_eq!(seen, [ms(150), ms(300), ms(500), ms(500), ms(500)]);
        assert_eq!(b.backoff(now, ms(7)), ms(507));
    }

    #[test]
    fn budget_runs_out_and_leaks_back_after_success() {
        let t0 = Instant::now();
        let mut b = RetryBudget::new(RetryOptions::default());
        for _ in 0..5 {
            assert!(b.has_budget(t0));
            b.consume(t0);
        }
        assert!(!b.has_budget(t0));
        assert!(!b.has_budget(t0 + ms(10_000)), "no leak without a success");
        b.start_restoring(t0);
        assert_eq!(b.consumed(t0 + ms(199)), 5);
        assert_eq!(b.consumed(t0 + ms(200)), 4);
        assert_eq!(b.consumed(t0 + ms(999)), 1);
        assert_eq!(b.consumed(t0 + ms(1000)), 0, "the last unit comes back too");
        b.consume(t0 + ms(400));
        assert_eq!(b.consumed(t0 + ms(5000)), 4, "an attempt stops the leak");
    }

    #[test]
    fn jitter_stays_in_range() {
        let b = RetryBudget::new(RetryOptions::default());
        for _ in 0..200 {
            assert!(b.draw_jitter() < ms(200));
        }
        let none = RetryBudget::new(RetryOptions {
            max_jitter: Duration::ZERO,
            ..RetryOptions::default()
        });
        assert_eq!(none.draw_jitter(), Duration::ZERO);
    }
}
