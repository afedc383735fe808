//! Order across the calls of a session (`docs/protocol.md` section 9, "Order"), with a `kv`
//! service shaped like the one of River's cross-language suite (river-babel: `set` tells every
//! `watch` of its key, then answers): what a handler pushes into other calls before it returns
//! reaches the client before its own result, and a subscription's first item comes before the
//! answers to calls opened after it. Read from the frames the client received, on both runtime
//! flavours (the multi-threaded one ten times over), both codecs, across reconnects and with
//! two clients; and a session that ends stops its calls in the order they were opened.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use crate::router_support::{
    CLIENT, Dir, Events, KvKey, KvSet, KvValue, Opts, Rig, Tap, bounded, eventually, next,
};
use futures_util::future::join_all;
use serde_json::{Value as Json, json};
use statebound_river::echo_service::Count;
use statebound_river::router::{ResponseStream, RiverClient, RiverError};
use statebound_river::wire::CodecKind;
use tokio::time::sleep;

/// Runs each scenario `async fn name(codec: CodecKind)` on the current-thread runtime on paused
/// time, and ten times on a two-thread runtime, over JSON and msgpack.
macro_rules! both_runtimes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use ::statebound_river::wire::CodecKind;

            #[tokio::test(start_paused = true)]
            async fn json() {
                super::$name(CodecKind::Json).await;
            }

            #[tokio::test(start_paused = true)]
            async fn msgpack() {
                super::$name(CodecKind::Msgpack).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn json_multi_thread() {
                for _ in 0..10 {
                    super::$name(CodecKind::Json).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn msgpack_multi_thread() {
                for _ in 0..10 {
                    super::$name(CodecKind::Msgpack).await;
                }
            }
        }
    )*};
}

both_runtimes! {
    a_set_tells_its_watchers_before_it_answers,
    a_set_tells_the_watchers_of_other_clients,
    order_holds_across_reconnects,
}

/// Polls `f` once: a call is sent then, in program order, and left in flight.
async fn poll_once<F: Future + ?Sized>(mut f: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await
}

type Call<T> = Pin<Box<dyn Future<Output = Result<T, RiverError>> + Send>>;

/// Polls `call` once, which sends its opening frame, and leaves it in flight (on the
/// multi-threaded runtime its answer may be back already).
async fn started<T: Send + 'static>(mut call: Call<T>) -> Call<T> {
    match poll_once(call.as_mut()).await {
        Poll::Pending => call,
        Poll::Ready(result) => Box::pin(std::future::ready(result)),
    }
}

/// Starts `kv.set` and leaves it in flight, its opening frame sent.
async fn start_set(client: &RiverClient, k: &str, v: i64) -> Call<KvValue> {
    let client = client.clone();
    let set = KvSet { k: k.into(), v };
    started(Box::pin(async move { client.rpc("kv", "set", &set).await })).await
}

async fn watch(client: &RiverClient, k: &str) -> ResponseStream<KvValue> {
    bounded(client.subscribe("kv", "watch", &KvKey { k: k.into() }))
        .await
        .expect("the watch opens")
}

/// The next value a watch yields.
async fn watched(watch: &mut ResponseStream<KvValue>) -> i64 {
    next(watch)
        .await
        .expect("the watch goes on")
        .expect("an ok result")
        .v
}

async fn results(calls: Vec<Call<KvValue>>) -> Vec<i64> {
    bounded(join_all(calls))
        .await
        .into_iter()
        .map(|r| r.expect("the set answers").v)
        .collect()
}

/// What the server sent on the calls the client opened after frame `mark` of `tap`, in the
/// order the client read it (resends left out): `(n, what)` for the `n`-th call opened, `what`
/// being the `v` of an ok result, or the code of an error.
fn wire_order(tap: &Tap, mark: usize) -> Vec<(usize, Json)> {
    let frames: Vec<_> = tap.frames().into_iter().skip(mark).collect();
    let mut opened: Vec<String> = Vec::new();
    for f in frames
        .iter()
        .filter(|f| f.dir == Dir::Out && f.flags() & 2 != 0)
    {
        if !opened.iter().any(|id| id == f.stream_id()) {
            opened.push(f.stream_id().to_owned());
        }
    }
    let mut seen = Vec::new();
    let mut order = Vec::new();
    for f in frames.iter().filter(|f| f.dir == Dir::In) {
        let Some(n) = opened.iter().position(|id| id == f.stream_id()) else {
            continue;
        };
        if seen.contains(&f.seq()) {
            continue;
        }
        seen.push(f.seq());
        let payload = f.payload();
        let what = match payload["ok"].as_bool() {
            Some(true) => payload["payload"]["v"].clone(),
            Some(false) => payload["payload"]["code"].clone(),
            None => continue,
        };
        order.push((n, what));
    }
    order
}

async fn a_set_tells_its_watchers_before_it_answers(codec: CodecKind) {
    // river-babel's KvSubscribeTest: set foo 42, watch foo, set abc 1, set foo 43, each sent
    // without waiting for the one before.
    let rig = Rig::new(codec);
    let mark = rig.tap.len();
    let first = start_set(&rig.client, "foo", 42).await;
    let mut watching = watch(&rig.client, "foo").await;
    let abc = start_set(&rig.client, "abc", 1).await;
    let again = start_set(&rig.client, "foo", 43).await;
    assert_eq!(results(vec![first, abc, again]).await, [42, 1, 43]);
    assert_eq!(
        (watched(&mut watching).await, watched(&mut watching).await),
        (42, 43)
    );
    assert_eq!(
        wire_order(&rig.tap, mark),
        [
            (0, json!(42)),
            (1, json!(42)),
            (2, json!(1)),
            (1, json!(43)),
            (3, json!(43)),
        ],
        "(call, value) as the client read them: set, watch, set abc, the watch told, set"
    );
    // A watch of a key never set fails.
    let mut missing = watch(&rig.client, "nope").await;
    let error = next(&mut missing).await.expect("an answer").unwrap_err();
    assert_eq!(error.code, "NOT_FOUND");
    drop((watching, missing));
    rig.no_calls_left().await;
}

async fn a_set_tells_the_watchers_of_other_clients(codec: CodecKind) {
    // river-babel's KvSubscribeMultipleTest: a second client watches and sets the key the
    // first one watches.
    let rig = Rig::new(codec);
    let (other, other_tap) = rig.add_client("other", Opts::new(codec));
    let mark = rig.tap.len();
    let first = start_set(&rig.client, "foo", 42).await;
    let mut watching = watch(&rig.client, "foo").await;
    let again = start_set(&rig.client, "foo", 43).await;
    assert_eq!(results(vec![first, again]).await, [42, 43]);

    let mut theirs = watch(&other, "foo").await;
    let set = start_set(&other, "foo", 41).await;
    assert_eq!(results(vec![set]).await, [41]);
    assert_eq!(
        (watched(&mut theirs).await, watched(&mut theirs).await),
        (43, 41)
    );
    let mine = (
        watched(&mut watching).await,
        watched(&mut watching).await,
        watched(&mut watching).await,
    );
    assert_eq!(mine, (42, 43, 41));
    assert_eq!(
        wire_order(&other_tap, 0),
        [(0, json!(43)), (0, json!(41)), (1, json!(41))],
        "the other client: its watch, the watch told of its set, the set"
    );
    eventually("the first client reads the other's value", || {
        wire_order(&rig.tap, mark).len() == 5
    })
    .await;
    assert_eq!(
        wire_order(&rig.tap, mark),
        [
            (0, json!(42)),
            (1, json!(42)),
            (1, json!(43)),
            (2, json!(43)),
            (1, json!(41)),
        ],
        "the first client: set, watch, the watch told, set, the other client's value"
    );
    drop((watching, theirs));
    rig.no_calls_left().await;
}

async fn order_holds_across_reconnects(codec: CodecKind) {
    // river-babel's KvMultipleLongSubscription, with the connection dropped (by the client,
    // then by the server) before each later set, which waits in the buffer and is resent.
    let rig = Rig::new(codec);
    let mut events = Events::new(rig.transport().subscribe());
    let mark = rig.tap.len();
    let first = start_set(&rig.client, "foo", 42).await;
    let mut w1 = watch(&rig.client, "foo").await;
    assert_eq!(results(vec![first]).await, [42]);
    assert_eq!(watched(&mut w1).await, 42);
    events.wait_connected(1).await;
    let session = rig.shared_session();

    rig.transport().drop_connections();
    let second = start_set(&rig.client, "foo", 43).await;
    let mut w2 = watch(&rig.client, "foo").await;
    assert_eq!(results(vec![second]).await, [43]);
    assert_eq!((watched(&mut w1).await, watched(&mut w2).await), (43, 43));
    events.wait_connected(2).await;

    rig.server.drop_connections();
    let third = start_set(&rig.client, "foo", 44).await;
    assert_eq!(results(vec![third]).await, [44]);
    assert_eq!((watched(&mut w1).await, watched(&mut w2).await), (44, 44));
    assert_eq!(rig.shared_session(), session, "one session throughout");
    assert_eq!(
        wire_order(&rig.tap, mark),
        [
            (0, json!(42)),
            (1, json!(42)),
            (1, json!(43)),
            (2, json!(43)),
            (3, json!(43)),
            (1, json!(44)),
            (3, json!(44)),
            (4, json!(44)),
        ],
        "(call, value): set, watch 1, watch 1 told, set, watch 2, both watches told, set"
    );
    drop((w1, w2));
    rig.no_calls_left().await;
}

// ----- a session that ends -------------------------------------------------------------------

/// Runs a scenario over JSON and msgpack on paused time.
macro_rules! both_codecs_paused {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(start_paused = true)]
            async fn json() {
                super::$name(::statebound_river::wire::CodecKind::Json).await;
            }

            #[tokio::test(start_paused = true)]
            async fn msgpack() {
                super::$name(::statebound_river::wire::CodecKind::Msgpack).await;
            }
        }
    )*};
}

both_codecs_paused! {
    a_session_that_ends_stops_its_calls_in_the_order_they_were_opened,
}

async fn a_session_that_ends_stops_its_calls_in_the_order_they_were_opened(codec: CodecKind) {
    let rig = Rig::with(Opts::new(codec).no_reconnect());
    let mut calls: Vec<Call<Count>> = Vec::new();
    for n in 0..20 {
        let client = rig.client.clone();
        calls.push(
            started(Box::pin(async move {
                client.rpc("probe", "held", &Count { n }).await
            }))
            .await,
        );
    }
    eventually("every handler runs", || rig.probe.live() == 20).await;
    rig.transport().drop_connections();
    sleep(Duration::from_secs(3)).await;
    let failed: Vec<String> = bounded(join_all(calls))
        .await
        .into_iter()
        .map(|r| r.expect_err("the session ended").code)
        .collect();
    assert_eq!(failed, vec!["UNEXPECTED_DISCONNECT"; 20]);
    assert_eq!(
        rig.probe.dropped(),
        (0..20).collect::<Vec<_>>(),
        "the server dropped the handlers in the order their calls were opened"
    );
    assert_eq!(rig.server.session_id(CLIENT), None);
    rig.no_calls_left().await;
}
