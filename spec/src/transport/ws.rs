//! WebSocket connections on tokio-tungstenite: one River frame per binary message.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;

use crate::session::connection::Wire;
use crate::session::{ChannelConnection, CloseCode};

/// Limits of WebSocket connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest message (one River frame) accepted, in bytes. Larger ones close the connection.
    pub max_message_size: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        // River's server (the `ws` package) accepts 100 MiB payloads by default.
        WsLimits {
            max_message_size: 100 * 1024 * 1024,
        }
    }
}

impl WsLimits {
    pub(crate) fn config(self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}

/// Turns an open WebSocket into a [`Connection`](crate::session::Connection): a reader task
/// and a writer task pump frames between the socket and the connection's channels.
///
/// Binary and text messages are both frames (River sends binary; text is read as its UTF-8
/// bytes). A close message ends the connection with its code; so does an error or the end of
/// the stream, without a code. Dropping the connection without closing it closes the socket
/// with [`CloseCode::SESSION_CONTINUES`].
pub(crate) fn spawn<S>(ws: WebSocketStream<S>) -> ChannelConnection
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Wire>();
    let (in_tx, in_rx) = mpsc::unbounded_channel::<Wire>();
    let (mut sink, mut stream) = ws.split();
    tokio::spawn(async move {
        let close = loop {
            match out_rx.recv().await {
                Some(Wire::Frame(frame)) => {
                    if sink.send(Message::Binary(frame.into())).await.is_err() {
                        return;
                    }
                }
                Some(Wire::Close(code)) => break code,
                None => break CloseCode::SESSION_CONTINUES,
            }
        };
        let frame = CloseFrame {
            code: WsCloseCode::from(close.0),
            reason: "".into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
        let _ = sink.close().await;
    });
    tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            let wire = match message {
                Ok(Message::Binary(bytes)) => Wire::Frame(bytes.to_vec()),
                Ok(Message::Text(text)) => Wire::Frame(text.as_bytes().to_vec()),
                Ok(Message::Close(frame)) => {
                    let code = frame.map_or(CloseCode(1005), |f| CloseCode(u16::from(f.code)));
                    let _ = in_tx.send(Wire::Close(code));
                    return;
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Err(_) => return,
            };
            if in_tx.send(wire).is_err() {
                return;
            }
        }
    });
    ChannelConnection::from_channels(out_tx, in_rx)
}
