//! The four procedure kinds and River's error results, end to end over in-memory transports.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use statebound_river::echo_service::{Count, CountdownInit, Empty, FailInit, Msg, service};
use statebound_river::router::{RiverClient, RiverServer, codes, serve};
use statebound_river::transport::{
    ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport,
};
use tokio::time::timeout;

fn msg(s: &str) -> Msg {
    Msg { msg: s.into() }
}

fn setup() -> (RiverClient, RiverServer) {
    let server = ServerTransport::new("SERVER", ServerOptions::default());
    let router = serve(&server, vec![service()]);
    let transport = ClientTransport::new(
        "client",
        Arc::new(MemoryDialer::new(server)),
        ClientOptions::default(),
    );
    (RiverClient::new(transport, "SERVER"), router)
}

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn rpc_echo_and_fail() {
    let (client, _router) = setup();
    let out: Msg = timeout(LIMIT, client.rpc("test", "echo", &msg("héllo")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, msg("héllo"));
    let init = FailInit {
        code: "NOPE".into(),
        message: "not today".into(),
    };
    let err = timeout(LIMIT, client.rpc::<_, Empty>("test", "fail", &init))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("NOPE", "not today")
    );
}

#[tokio::test]
async fn unknown_procedure_and_bad_init_are_invalid_requests() {
    let (client, _router) = setup();
    let err = timeout(LIMIT, client.rpc::<_, Msg>("test", "nope", &msg("x")))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, codes::INVALID_REQUEST);
    let err = timeout(LIMIT, client.rpc::<_, Msg>("test", "echo", &Empty {}))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, codes::INVALID_REQUEST);
}

#[tokio::test]
async fn stream_echoes_until_the_client_closes() {
    let (client, router) = setup();
    let (writer, mut responses) = client
        .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
        .await
        .unwrap();
    for s in ["a", "b", "c"] {
        writer.write(&msg(s)).await.unwrap();
    }
    for s in ["a", "b", "c"] {
        let got = timeout(LIMIT, responses.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, msg(s));
    }
    writer.close().await.unwrap();
    assert!(
        timeout(LIMIT, responses.next()).await.unwrap().is_none(),
        "server closed its side"
    );
    assert_eq!(client.open_calls(), 0);
    timeout(LIMIT, async {
        while router.open_calls() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server's call ends");
}

#[tokio::test]
async fn upload_concatenates_in_order() {
    let (client, _router) = setup();
    let (writer, result) = client
        .upload::<_, Msg, Msg>("test", "concat", &Empty {})
        .await
        .unwrap();
    for s in ["ab", "cd", "ef"] {
        writer.write(&msg(s)).await.unwrap();
    }
    writer.close().await.unwrap();
    assert_eq!(
        timeout(LIMIT, result).await.unwrap().unwrap(),
        msg("abcdef")
    );
}

#[tokio::test]
async fn subscription_counts_down_then_closes() {
    let (client, _router) = setup();
    let stream = client
        .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 3 })
        .await
        .unwrap();
    let items: Vec<u32> = timeout(LIMIT, stream.map(|c| c.unwrap().n).collect())
        .await
        .unwrap();
    assert_eq!(items, [3, 2, 1, 0]);
}

#[tokio::test]
async fn calls_on_a_closed_transport_fail_at_once_with_unexpected_disconnect() {
    let (client, _router) = setup();
    client.transport().close().await;
    let err = timeout(LIMIT, client.rpc::<_, Msg>("test", "echo", &msg("x")))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, codes::UNEXPECTED_DISCONNECT);
}
