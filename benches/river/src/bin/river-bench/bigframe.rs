//! Large frames beside a bystander (`bigframe`): one session sends `echo` calls of
//! `--payload` bytes (8 MiB by default), each a list of short strings the server must decode
//! value by value, while a bystander on the same server calls `echo` every 10 ms; with
//! `--apart 1` the large calls go to a second server of their own, the control for what
//! sharing the machine costs the bystander.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use statebound_river::echo_service::Msg;
use statebound_river::router::RiverClient;
use statebound_river::transport::{ClientTransport, WsDialer};
use tokio::time::{Instant, sleep, timeout};

use crate::Args;
use crate::clients::{Helper, client_options, unique};
use crate::load::{
    Calls, Tail, apart_or_not, bystander, field, latencies, print_bystander, start_server, warm_up,
};
use crate::stats::{Summary, percentile};

/// An `echo` init the server reads as `{"msg": ..}`, with `pad` to make the frame large:
/// `echo` ignores the field, but the server decodes every string of it first.
#[derive(Serialize)]
struct Padded {
    msg: String,
    pad: Vec<String>,
}

/// Each string of the pad: 16 bytes, 17 with its msgpack header.
const PAD_ITEM: &str = "0123456789abcdef";

/// The child (`bigframe-sender --url URL --payload BYTES --seconds S`): connects, says
/// `connected`, then calls `echo` with a padded init of about BYTES encoded bytes, one call at
/// a time, for S seconds, and prints `calls N p50 MS max MS` (each call's round trip).
pub(crate) async fn bigframe_sender(args: &Args) -> Result<(), String> {
    let transport = ClientTransport::new(
        unique("big", 0),
        Arc::new(WsDialer::fixed(args.url.clone())),
        client_options(args.codec),
    );
    let client = RiverClient::new(transport.clone(), "SERVER");
    warm_up(&client, "the sender").await?;
    println!("connected");
    let init = Padded {
        msg: "big".into(),
        pad: vec![PAD_ITEM.to_owned(); args.payload / (PAD_ITEM.len() + 1)],
    };
    let mut took = Vec::new();
    let end = Instant::now() + Duration::from_secs_f64(args.seconds);
    while Instant::now() < end {
        let start = Instant::now();
        let answer = timeout(
            Duration::from_secs(30),
            client.rpc::<_, Msg>("test", "echo", &init),
        )
        .await
        .map_err(|_| "a large call took more than 30 s".to_owned())?
        .map_err(|e| format!("a large call failed: {e}"))?;
        if answer.msg != "big" {
            return Err(format!("a large call was answered {answer:?}"));
        }
        took.push(start.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let calls = took.len();
    println!(
        "calls {calls} p50 {:.2} max {:.2}",
        ms(percentile(&mut took, 50.0)),
        ms(percentile(&mut took, 100.0))
    );
    transport.close().await;
    Ok(())
}

/// One round: the bystander's p50/p99/max (ms) before and while the large calls run, and the
/// large calls made and their p50 (ms).
struct Round {
    before: Tail,
    during: Tail,
    calls: f64,
    call_ms: f64,
}

async fn round(args: &Args) -> Result<Round, String> {
    let (server, url) = start_server(args).await?;
    let transport = ClientTransport::new(
        unique("bystander", 0),
        Arc::new(WsDialer::fixed(url.clone())),
        client_options(args.codec),
    );
    let client = RiverClient::new(transport.clone(), "SERVER");
    warm_up(&client, "the bystander").await?;
    let (calls, stop): (Calls, _) = (Arc::default(), Arc::new(AtomicBool::new(false)));
    bystander(client, Arc::clone(&calls), Arc::clone(&stop));
    let apart = if args.apart {
        Some(start_server(args).await?)
    } else {
        None
    };
    let target = apart.as_ref().map_or(url.as_str(), |(_, u)| u.as_str());
    let quiet = Instant::now();
    sleep(Duration::from_secs(2)).await;
    let payload = args.payload.to_string();
    let seconds = args.seconds.to_string();
    let mut sender = Helper::start(&[
        "bigframe-sender",
        "--url",
        target,
        "--payload",
        &payload,
        "--seconds",
        &seconds,
    ])?;
    sender.expect(Duration::from_secs(30), "connected").await?;
    let start = Instant::now();
    let patience = Duration::from_secs_f64(args.seconds + 60.0);
    let done = sender.line(patience).await?;
    let end = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let before = latencies(&calls, quiet, start).tail;
    let during = latencies(&calls, start, end).tail;
    transport.close().await;
    drop((server, apart));
    Ok(Round {
        before,
        during,
        calls: field(&done, "calls")?,
        call_ms: field(&done, "p50")?,
    })
}

/// `bigframe`: rounds of [`round`], then median (min-max) over them.
pub(crate) async fn bigframe(args: &Args) -> Result<(), String> {
    println!(
        "bigframe: echo calls of {} bytes for {} s, on {}, beside a bystander; {} rounds",
        args.payload,
        args.seconds,
        apart_or_not(args.apart),
        args.rounds
    );
    let mut rounds = Vec::new();
    for i in 0..args.rounds {
        let r = round(args).await?;
        println!(
            "  round {i}: {} large calls, p50 {:.1} ms; bystander p50/p99/max before \
             {:.2}/{:.2}/{:.2} ms, during {:.2}/{:.2}/{:.2} ms",
            r.calls,
            r.call_ms,
            r.before.0,
            r.before.1,
            r.before.2,
            r.during.0,
            r.during.1,
            r.during.2
        );
        rounds.push(r);
    }
    let show = |f: &dyn Fn(&Round) -> f64, decimals| {
        Summary::of(&rounds.iter().map(f).collect::<Vec<_>>()).show(decimals)
    };
    println!("large calls per round:    {}", show(&|r| r.calls, 0));
    println!("large call p50 ms:        {}", show(&|r| r.call_ms, 1));
    print_bystander(
        &rounds
            .iter()
            .map(|r| (r.before, r.during))
            .collect::<Vec<_>>(),
    );
    Ok(())
}
