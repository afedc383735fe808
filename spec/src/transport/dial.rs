//! How a client transport reaches its server: over WebSocket, or in memory for tests.

use std::sync::Arc;

use super::ServerTransport;
use super::ws::{WsConnection, WsLimits};
use crate::session::{BoxFuture, Connection, memory_pair};

/// A failed connection attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DialError {
    /// What went wrong.
    pub message: String,
    /// Whether trying again is pointless: a fatal error ends the session and stops
    /// reconnection.
    pub fatal: bool,
}

impl DialError {
    /// A failure worth retrying.
    pub fn retriable(message: impl Into<String>) -> Self {
        DialError {
            message: message.into(),
            fatal: false,
        }
    }

    /// A failure not worth retrying.
    pub fn fatal(message: impl Into<String>) -> Self {
        DialError {
            message: message.into(),
            fatal: true,
        }
    }
}

/// Opens connections to a server on a client transport's behalf.
pub trait Dialer: Send + Sync + 'static {
    /// Opens a connection to the server `to`.
    fn dial<'a>(&'a self, to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>>;
}

/// A function that produces the URL to dial for a server id, consulted before every attempt
/// (so it can pick a server or refresh a token).
pub type UrlFn = Arc<dyn Fn(&str) -> BoxFuture<'static, Result<String, DialError>> + Send + Sync>;

/// Dials `ws://` (or `wss://`) URLs.
pub struct WsDialer {
    url: UrlFn,
    limits: WsLimits,
}

impl std::fmt::Debug for WsDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsDialer")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl WsDialer {
    /// Dials the URL `url` produces for each attempt.
    pub fn new(url: UrlFn) -> Self {
        WsDialer {
            url,
            limits: WsLimits::default(),
        }
    }

    /// Always dials `url`.
    pub fn fixed(url: impl Into<String>) -> Self {
        let url: String = url.into();
        WsDialer::new(Arc::new(move |_| {
            let url = url.clone();
            Box::pin(async move { Ok(url) })
        }))
    }

    /// Sets the connection limits.
    #[must_use]
    pub fn with_limits(mut self, limits: WsLimits) -> Self {
        self.limits = limits;
        self
    }
}

impl Dialer for WsDialer {
    fn dial<'a>(&'a self, to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        Box::pin(async move {
            let url = (self.url)(to).await?;
            let (ws, _) = tokio_tungstenite::connect_async_with_config(
                url.as_str(),
                Some(self.limits.config()),
                true,
            )
            .await
            .map_err(|e| DialError::retriable(format!("could not connect to {url}: {e}")))?;
            let conn: Box<dyn Connection> = Box::new(WsConnection::new(ws, self.limits));
            Ok(conn)
        })
    }
}

/// Dials a [`ServerTransport`] in the same process through an in-memory pair.
#[derive(Debug, Clone)]
pub struct MemoryDialer {
    server: ServerTransport,
}

impl MemoryDialer {
    /// Dials `server`.
    pub fn new(server: ServerTransport) -> Self {
        MemoryDialer { server }
    }
}

impl Dialer for MemoryDialer {
    fn dial<'a>(&'a self, _to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        Box::pin(async move {
            let (client, server) = memory_pair();
            self.server
                .accept_connection(Box::new(server))
                .map_err(|e| DialError::retriable(e.to_string()))?;
            let conn: Box<dyn Connection> = Box::new(client);
            Ok(conn)
        })
    }
}
