//! Trace context: River's `tracing` field (W3C `traceparent` and `tracestate`) and the
//! `tracing` spans it parents.
//!
//! Each session has a span, `river.session`, and each call a server handles runs inside a span
//! of its own, `river.call`, whose `tracing` parent is its session's span. Both record the
//! `traceparent` they were opened with (the handshake's, the opening frame's) as a field, and a
//! handler finds the opening frame's context in
//! [`CallContext::trace`](crate::router::CallContext::trace) and its span in
//! [`CallContext::span`](crate::router::CallContext::span).
//!
//! With the `otel` feature, and a `tracing-opentelemetry` layer installed, the received context
//! becomes the OpenTelemetry parent of the span: a server's session span is a child of the
//! client's session span, and a call's span a child of the span the client opened the call
//! in. In the other direction, our client sends the OpenTelemetry context of its session's span
//! with every handshake, and the context current where a call is opened with the call's opening
//! frame. Without the feature (or without the layer) nothing is sent, and what is received is
//! only recorded.

use tracing::Span;

use crate::wire::Tracing;

/// The span of a session with `peer`, as the `role` (`"client"` or `"server"`) sees it; its
/// parent is the context `remote` sent with the handshake (server), if any.
pub(crate) fn session_span(
    role: &'static str,
    peer: &str,
    session_id: &str,
    remote: Option<&Tracing>,
) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "river.session",
        role,
        peer,
        session_id,
        traceparent = tracing::field::Empty,
    );
    adopt(&span, remote);
    span
}

/// The span of a call of `service.procedure` on `stream_id`, inside `session`; its parent is
/// the context `remote` sent with the opening frame, if any.
pub(crate) fn call_span(
    session: &Span,
    service: &str,
    procedure: &str,
    stream_id: &str,
    remote: Option<&Tracing>,
) -> Span {
    let span = tracing::info_span!(
        parent: session,
        "river.call",
        service,
        procedure,
        stream_id,
        traceparent = tracing::field::Empty,
    );
    adopt(&span, remote);
    span
}

/// Records `remote` on `span`, and (with `otel`) makes it the span's parent.
fn adopt(span: &Span, remote: Option<&Tracing>) {
    let Some(remote) = remote.filter(|r| !r.traceparent.is_empty()) else {
        return;
    };
    span.record("traceparent", remote.traceparent.as_str());
    #[cfg(feature = "otel")]
    otel::set_parent(span, remote);
}

/// The context to send for `span` (with `otel`: its OpenTelemetry context, when it has a valid
/// one; otherwise none).
pub fn context_of(span: &Span) -> Option<Tracing> {
    #[cfg(feature = "otel")]
    {
        otel::context_of(span)
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = span;
        None
    }
}

/// The context to send for the current span (see [`context_of`]).
pub fn current() -> Option<Tracing> {
    context_of(&Span::current())
}

/// Reads a `traceparent` (`00-<trace id>-<span id>-<flags>`, lower-case hex) into its trace
/// id, span id and flags. `None` for anything else, the all-zero ids included.
pub fn parse_traceparent(traceparent: &str) -> Option<(u128, u64, u8)> {
    let mut parts = traceparent.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if parts.next().is_some()
        || !hex(version, 2)
        || version == "ff"
        || !hex(trace, 32)
        || !hex(span, 16)
        || !hex(flags, 2)
    {
        return None;
    }
    let trace = u128::from_str_radix(trace, 16).ok()?;
    let span = u64::from_str_radix(span, 16).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    (trace != 0 && span != 0).then_some((trace, span, flags))
}

/// Writes a version-00 `traceparent`.
pub fn format_traceparent(trace: u128, span: u64, flags: u8) -> String {
    format!("00-{trace:032x}-{span:016x}-{flags:02x}")
}

#[cfg(feature = "otel")]
mod otel {
    use std::str::FromStr as _;

    use opentelemetry::Context;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use super::{format_traceparent, parse_traceparent};
    use crate::wire::Tracing;

    /// Makes `remote` the OpenTelemetry parent of `span` (a no-op without the layer).
    pub(super) fn set_parent(span: &Span, remote: &Tracing) {
        let Some((trace, span_id, flags)) = parse_traceparent(&remote.traceparent) else {
            return;
        };
        let state = TraceState::from_str(&remote.tracestate).unwrap_or_default();
        let parent = SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span_id),
            TraceFlags::new(flags),
            true,
            state,
        );
        let _ = span.set_parent(Context::new().with_remote_span_context(parent));
    }

    /// The W3C context of `span`'s OpenTelemetry span, if it has a valid one.
    pub(super) fn context_of(span: &Span) -> Option<Tracing> {
        let context = span.context();
        let otel = context.span();
        let sc = otel.span_context();
        sc.is_valid().then(|| Tracing {
            traceparent: format_traceparent(
                u128::from_be_bytes(sc.trace_id().to_bytes()),
                u64::from_be_bytes(sc.span_id().to_bytes()),
                sc.trace_flags().to_u8(),
            ),
            tracestate: sc.trace_state().header(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_read_and_write() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (trace, span, flags) = parse_traceparent(tp).unwrap();
        assert_eq!(trace, 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736);
        assert_eq!((span, flags), (0x00f0_67aa_0ba9_02b7, 1));
        assert_eq!(format_traceparent(trace, span, flags), tp);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
    }
}
