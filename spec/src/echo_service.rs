//! The `test` service that `river-echo` serves, so any River client can exercise a Rust server:
//!
//! | procedure | kind | init | requests | responses |
//! |---|---|---|---|---|
//! | `echo` | rpc | `{"msg": s}` | | `{"msg": s}` |
//! | `echoStream` | stream | `{}` | `{"msg": s}` | `{"msg": s}` per request; closes after the client closes |
//! | `concat` | upload | `{}` | `{"msg": s}` | `{"msg": all joined in order}` once the client closes |
//! | `countdown` | subscription | `{"from": n}` | | `{"n": n}` ... `{"n": 0}`, a short pause between, then closes |
//! | `fail` | rpc | `{"code": c, "message": m}` | | the error `c` / `m` |

use std::time::Duration;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::router::{CallContext, Requests, Responses, RiverError, Service};

/// `{"msg": s}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg {
    /// The text.
    pub msg: String,
}

/// `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `{"from": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountdownInit {
    /// Where to count down from.
    pub from: u32,
}

/// `{"n": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The current count.
    pub n: u32,
}

/// `{"code": c, "message": m}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailInit {
    /// The error code to answer with.
    pub code: String,
    /// The error message to answer with.
    pub message: String,
}

/// The pause between two countdown items.
pub const COUNTDOWN_PAUSE: Duration = Duration::from_millis(50);

/// The `test` service.
pub fn service() -> Service {
    Service::new("test")
        .rpc("echo", |_: CallContext, init: Msg| async move { Ok::<_, RiverError>(init) })
        .stream(
            "echoStream",
            |_: CallContext, _: Empty, mut requests: Requests<Msg>, responses: Responses<Msg>| async move {
                while let Some(request) = requests.next().await {
                    if responses.send(Ok(request)).is_err() {
                        break;
                    }
                }
                Ok(())
            },
        )
        .upload(
            "concat",
            |_: CallContext, _: Empty, requests: Requests<Msg>| async move {
                let parts: Vec<Msg> = requests.collect().await;
                let msg = parts.into_iter().map(|m| m.msg).collect::<String>();
                Ok::<_, RiverError>(Msg { msg })
            },
        )
        .subscription(
            "countdown",
            |_: CallContext, init: CountdownInit, responses: Responses<Count>| async move {
                for n in (0..=init.from).rev() {
                    if responses.send(Ok(Count { n })).is_err() {
                        break;
                    }
                    if n > 0 {
                        tokio::time::sleep(COUNTDOWN_PAUSE).await;
                    }
                }
                Ok(())
            },
        )
        .rpc("fail", |_: CallContext, init: FailInit| async move {
            Err::<Empty, _>(RiverError::new(init.code, init.message))
        })
}
