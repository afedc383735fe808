//! Binding sessions to principals: the server's validation hook learns a principal from the
//! client's token and checks it against the client id the client presented, so a client id
//! (and the session kept under it) belongs to one principal. A client presenting another
//! principal's token under that id, on a first connection or on a resume, is refused.
//!
//! Client ids here are `principal:device`; tokens are looked up in a fixed table. Run with
//! `cargo run -p statebound-river --example principals`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use statebound_river::router::{CallContext, RiverClient, RiverError, Service, serve};
use statebound_river::session::{BoxFuture, HandshakeValidator, ProtocolError, Rejection};
use statebound_river::transport::{
    ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport, TransportEvent,
    metadata_fn,
};
use statebound_river::wire::{HandshakeErrorCode, Value};

/// The metadata a client sends: `{"token": "..."}`.
pub(crate) fn token_metadata(token: &str) -> Value {
    Value::Map([("token", Value::from(token))].into_iter().collect())
}

/// The principal a client id names: the part before the first `:`.
pub(crate) fn principal_of(client_id: &str) -> &str {
    client_id.split(':').next().unwrap_or(client_id)
}

/// Checks tokens against a table of principals, and principals against client ids.
#[derive(Debug)]
pub(crate) struct Principals {
    tokens: HashMap<String, String>,
    /// Validations run (accepted or not).
    pub(crate) validations: AtomicUsize,
}

impl Principals {
    /// A validator that knows `tokens` as `(token, principal)` pairs.
    pub(crate) fn new<'a>(tokens: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Principals {
            tokens: tokens
                .into_iter()
                .map(|(token, principal)| (token.to_owned(), principal.to_owned()))
                .collect(),
            validations: AtomicUsize::new(0),
        }
    }

    /// The validator of this example: `tok-alice` is alice's token, `tok-bob` bob's.
    pub(crate) fn alice_and_bob() -> Self {
        Principals::new([("tok-alice", "alice"), ("tok-bob", "bob")])
    }

    /// The principal `metadata`'s token belongs to.
    pub(crate) fn principal(&self, metadata: Option<&Value>) -> Option<&str> {
        let token = metadata?.get("token")?.as_str()?;
        self.tokens.get(token).map(String::as_str)
    }
}

fn refuse(reason: String) -> Rejection {
    Rejection::new(HandshakeErrorCode::RejectedByCustomHandler, reason)
}

impl HandshakeValidator for Principals {
    fn check_schema(&self, metadata: Option<&Value>) -> Result<(), String> {
        match metadata
            .and_then(|m| m.get("token"))
            .and_then(Value::as_str)
        {
            Some(_) => Ok(()),
            None => Err("expected {\"token\": string}".into()),
        }
    }

    fn validate<'a>(
        &'a self,
        from: &'a str,
        metadata: Option<&'a Value>,
        previous: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        self.validations.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let Some(principal) = self.principal(metadata) else {
                return Err(refuse("unknown token".into()));
            };
            if principal != principal_of(from) {
                return Err(refuse(format!(
                    "a token of {principal} cannot be used as client {from}"
                )));
            }
            // The session already kept under this id belongs to whoever opened it.
            if let Some(owner) = previous.and_then(|p| self.principal(Some(p)))
                && owner != principal
            {
                return Err(refuse(format!(
                    "client {from} belongs to {owner}, not {principal}"
                )));
            }
            Ok(())
        })
    }
}

/// A `whoami` service: answers with the principal the call's session is bound to.
pub(crate) fn whoami(principals: Arc<Principals>) -> Service {
    Service::new("identity").rpc("whoami", move |ctx: CallContext, (): ()| {
        let principals = Arc::clone(&principals);
        async move {
            principals
                .principal(ctx.metadata.as_ref())
                .map(str::to_owned)
                .ok_or_else(|| RiverError::new("UNAUTHENTICATED", "no principal"))
        }
    })
}

/// A client transport with id `client_id` that always presents `token`.
pub(crate) fn client(
    server: &ServerTransport,
    client_id: &str,
    token: &'static str,
) -> ClientTransport {
    ClientTransport::new(
        client_id,
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions {
            metadata: Some(metadata_fn(move |_| Some(token_metadata(token)))),
            ..ClientOptions::default()
        },
    )
}

/// Waits for the `handshake_failed` a refused client reports, and returns its message.
pub(crate) async fn refusal(
    events: &mut tokio::sync::mpsc::Receiver<TransportEvent>,
) -> Option<String> {
    while let Some(event) = events.recv().await {
        if let TransportEvent::ProtocolError {
            error: ProtocolError::HandshakeFailed { message, .. },
            ..
        } = event
        {
            return Some(message);
        }
    }
    None
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let principals = Arc::new(Principals::alice_and_bob());
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            validator: Some(Arc::clone(&principals) as Arc<dyn HandshakeValidator>),
            ..ServerOptions::default()
        },
    );
    let _router = serve(&server, vec![whoami(Arc::clone(&principals))]);

    let alice = RiverClient::new(client(&server, "alice:laptop", "tok-alice"), "SERVER");
    let me: String = alice
        .rpc("identity", "whoami", &())
        .await
        .expect("alice's call");
    println!("alice:laptop is {me}");

    let impostor = client(&server, "alice:phone", "tok-bob");
    let mut events = impostor.subscribe_status();
    impostor.connect("SERVER");
    let refused = refusal(&mut events).await.unwrap_or_default();
    println!("alice:phone with bob's token: refused ({refused})");
    impostor.close().await;
    server.close().await;
}
