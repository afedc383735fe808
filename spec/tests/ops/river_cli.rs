//! The `river` command line against `river-echo` (and River's Python v1.1 server, when the
//! interop venv from `bash interop/setup.sh` is there), end to end as a shell script would use
//! it: arguments in, JSON lines out, exit codes.

use std::time::Duration;

use crate::interop_support::{
    Cast, Peer, Proxy, RELEASED_PORTS, python_v1_server, river_echo, workspace_root,
};
use serde_json::{Value as Json, json};

/// How long one `river` run may take.
const RUN: Duration = Duration::from_secs(30);

fn river(args: &[&str]) -> Peer {
    Peer::spawn("river", env!("CARGO_BIN_EXE_river"), args)
}

/// Runs `river args` with `stdin` (then end of input) and returns its exit code and stdout.
async fn run(args: &[&str], stdin: &[&str], others: &[&Peer]) -> (i32, Vec<Json>, Peer) {
    let cli = river(args);
    for line in stdin {
        cli.send_line(line).unwrap();
    }
    cli.close_stdin();
    let Some(status) = cli.wait_for_exit(RUN).await else {
        let mut all = others.to_vec();
        all.push(&cli);
        Cast(all).fail("river did not exit in time");
    };
    let out = cli
        .stdout()
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                Cast(vec![&cli]).fail(&format!("stdout line {l:?} is not JSON: {e}"))
            })
        })
        .collect();
    (status.code().unwrap_or(-1), out, cli)
}

fn ws(addr: std::net::SocketAddr) -> String {
    format!("ws://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_results_errors_and_bad_input_have_their_exit_codes() {
    let (echo, addr) = river_echo(&[]).await;
    let url = ws(addr);
    let (code, out, _) = run(
        &["call", &url, "test", "echo", r#"{"msg":"hi"}"#],
        &[],
        &[&echo],
    )
    .await;
    assert_eq!((code, out), (0, vec![json!({"msg": "hi"})]));

    for extra in [
        &["--codec", "msgpack"][..],
        &["--protocol", "v1.1"],
        &["--client-id", "cli-test", "--metadata", r#"{"token":"t"}"#],
    ] {
        let mut args = vec!["call", &url, "test", "echo", r#"{"msg":"opts"}"#];
        args.extend_from_slice(extra);
        let (code, out, cli) = run(&args, &[], &[&echo]).await;
        Cast(vec![&cli, &echo]).check(code == 0 && out == vec![json!({"msg": "opts"})], || {
            format!("river {extra:?} answered {code} {out:?}")
        });
    }
    assert!(
        echo.wait_for_count("cli-test", 1, RUN).await,
        "river-echo saw the client id"
    );

    let (code, out, cli) = run(
        &[
            "call",
            &url,
            "test",
            "fail",
            r#"{"code":"NOPE","message":"not today"}"#,
        ],
        &[],
        &[&echo],
    )
    .await;
    assert_eq!((code, out), (1, vec![]));
    assert!(
        cli.stderr()
            .iter()
            .any(|l| l == "river: error NOPE: not today"),
        "{}",
        cli.transcript()
    );

    let (code, _, cli) = run(&["call", &url, "test", "echo", "{not json"], &[], &[&echo]).await;
    assert_eq!(code, 2, "{}", cli.transcript());
    let (code, _, _) = run(&["call", &url, "test"], &[], &[&echo]).await;
    assert_eq!(code, 2, "a missing procedure is a usage error");

    // Nothing listens on the port: no answer within the timeout.
    let _ports = RELEASED_PORTS.lock().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = ws(closed.local_addr().unwrap());
    drop(closed);
    let (code, _, cli) = run(
        &[
            "call",
            &gone,
            "test",
            "echo",
            r#"{"msg":"x"}"#,
            "--timeout",
            "0.5",
        ],
        &[],
        &[],
    )
    .await;
    assert_eq!(code, 4, "{}", cli.transcript());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_upload_and_subscription_speak_json_lines() {
    let (echo, addr) = river_echo(&[]).await;
    let url = ws(addr);
    let (code, out, _) = run(
        &["stream", &url, "test", "echoStream"],
        &[r#"{"msg":"a"}"#, r#"{"msg":"b"}"#, r#"{"msg":"c"}"#],
        &[&echo],
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        vec![json!({"msg":"a"}), json!({"msg":"b"}), json!({"msg":"c"})]
    );

    let (code, out, _) = run(
        &["upload", &url, "test", "concat", "--codec", "msgpack"],
        &[r#"{"msg":"x"}"#, r#"{"msg":"y"}"#],
        &[&echo],
    )
    .await;
    assert_eq!((code, out), (0, vec![json!({"msg": "xy"})]));

    let (code, out, _) = run(
        &["subscribe", &url, "test", "countdown", r#"{"from":2}"#],
        &[],
        &[&echo],
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(out, vec![json!({"n":2}), json!({"n":1}), json!({"n":0})]);

    let (code, _, cli) = run(
        &["stream", &url, "test", "echoStream"],
        &[r#"{"msg":"a"}"#, "not json"],
        &[&echo],
    )
    .await;
    assert_eq!(code, 2, "{}", cli.transcript());
}

/// A cut connection: the stream goes on in the same session, and stderr says what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_is_resumed_and_reported_on_stderr() {
    let (echo, addr) = river_echo(&[]).await;
    let proxy = Proxy::start(addr).await;
    let url = ws(proxy.addr());
    let cli = river(&[
        "stream",
        &url,
        "test",
        "echoStream",
        "--client-id",
        "cut-client",
    ]);
    let cast = || Cast(vec![&cli, &echo]);
    cli.send_line(r#"{"msg":"before"}"#).unwrap();
    if cli
        .wait_for_stdout(RUN, |l| l.contains("before"))
        .await
        .is_none()
    {
        cast().fail("no answer before the cut");
    }
    assert!(proxy.sever().await >= 1, "the proxy cut a connection");
    cast().check(
        cli.wait_for_stderr("river: connection lost; reconnecting", RUN)
            .await,
        || "river did not say it lost the connection".into(),
    );
    cast().check(
        cli.wait_for_stderr("river: reconnected, session", RUN)
            .await
            && cli.stderr().iter().any(|l| l.ends_with(" resumed")),
        || "river did not say it resumed the session".into(),
    );
    cli.send_line(r#"{"msg":"after"}"#).unwrap();
    cli.close_stdin();
    let status = cli.wait_for_exit(RUN).await;
    cast().check(status.and_then(|s| s.code()) == Some(0), || {
        format!("river exited with {status:?}")
    });
    assert_eq!(
        cli.stdout(),
        vec![r#"{"msg":"before"}"#, r#"{"msg":"after"}"#]
    );
}

/// A server that refuses the handshake cuts the call off: exit code 3, the code on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_handshake_exits_with_3() {
    let (echo, addr) = river_echo(&["--reject-handshakes", "REJECTED_UNSUPPORTED_CLIENT"]).await;
    let (code, out, cli) = run(
        &["call", &ws(addr), "test", "echo", r#"{"msg":"x"}"#],
        &[],
        &[&echo],
    )
    .await;
    Cast(vec![&cli, &echo]).check(code == 3 && out.is_empty(), || format!("exit {code}"));
    assert!(
        cli.stderr()
            .iter()
            .any(|l| l.starts_with("river: handshake refused: REJECTED_UNSUPPORTED_CLIENT: ")),
        "{}",
        cli.transcript()
    );
}

/// `river-echo --metrics` counts what `river` called.
#[cfg(feature = "status")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn river_echo_metrics_count_the_cli_calls() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (echo, addr) = river_echo(&["--metrics", "127.0.0.1:0"]).await;
    let Some(line) = echo
        .wait_for_stdout(RUN, |l| l.starts_with("status page on http://"))
        .await
    else {
        Cast(vec![&echo]).fail("river-echo did not print its status page address");
    };
    let http = line
        .trim_start_matches("status page on http://")
        .trim_end_matches('/')
        .to_owned();
    let (code, _, _) = run(
        &["call", &ws(addr), "test", "echo", r#"{"msg":"m"}"#],
        &[],
        &[&echo],
    )
    .await;
    assert_eq!(code, 0);
    let (code, _, _) = run(
        &[
            "call",
            &ws(addr),
            "test",
            "fail",
            r#"{"code":"E1","message":"m"}"#,
        ],
        &[],
        &[&echo],
    )
    .await;
    assert_eq!(code, 1);
    let mut tcp = tokio::net::TcpStream::connect(&http).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.unwrap();
    for series in [
        "river_calls_total{service=\"test\",procedure=\"echo\",code=\"OK\"} 1",
        "river_calls_total{service=\"test\",procedure=\"fail\",code=\"E1\"} 1",
        "river_handshakes_total{outcome=\"ok\",code=\"\"} 2",
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
}

/// River's Python v1.1 server, called by `river --protocol v1.1 --codec msgpack`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_v1_server_answers_the_cli() {
    let venv = workspace_root().join("interop/.venv/bin/python");
    if std::env::var_os("RIVER_INTEROP_PYTHON").is_none() && !venv.exists() {
        eprintln!(
            "river_cli: SKIPPED python_v1_server_answers_the_cli: no interop venv \
             (run bash interop/setup.sh)"
        );
        return;
    }
    let (py, addr) = python_v1_server("PYSERVER").await;
    let url = format!("ws://{addr}");
    let v1 = [
        "--protocol",
        "v1.1",
        "--codec",
        "msgpack",
        "--server-id",
        "PYSERVER",
    ];
    let mut args = vec!["call", &url, "test", "echo", r#"{"msg":"from the shell"}"#];
    args.extend_from_slice(&v1);
    let (code, out, cli) = run(&args, &[], &[&py]).await;
    Cast(vec![&cli, &py]).check(
        code == 0 && out == vec![json!({"msg": "from the shell"})],
        || format!("echo answered {code} {out:?}"),
    );
    let mut args = vec![
        "call",
        &url,
        "test",
        "fail",
        r#"{"code":"PY_NOPE","message":"no"}"#,
    ];
    args.extend_from_slice(&v1);
    let (code, _, cli) = run(&args, &[], &[&py]).await;
    Cast(vec![&cli, &py]).check(
        code == 1 && cli.stderr().iter().any(|l| l == "river: error PY_NOPE: no"),
        || format!("fail answered {code}"),
    );
}

/// The binaries log through `tracing-subscriber`, filtered by `RUST_LOG`: river-echo's
/// transitions show up on stderr inside their session's span only when asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn river_echo_logs_sessions_as_rust_log_says() {
    // An empty RUST_LOG counts as unset, whatever the test's own environment says.
    for (rust_log, shown) in [("statebound_river=info", true), ("", false)] {
        let env = [("RUST_LOG", rust_log)];
        let echo = Peer::spawn_with_env(
            "river-echo",
            env!("CARGO_BIN_EXE_river-echo"),
            ["--listen", "127.0.0.1:0"],
            &env,
        );
        let Some(line) = echo
            .wait_for_stdout(RUN, |l| l.starts_with("listening on "))
            .await
        else {
            Cast(vec![&echo]).fail("river-echo did not start");
        };
        let addr: std::net::SocketAddr = line["listening on ".len()..].trim().parse().unwrap();
        let (code, _, _) = run(
            &[
                "call",
                &ws(addr),
                "test",
                "echo",
                r#"{"msg":"log"}"#,
                "--client-id",
                "logged-client",
            ],
            &[],
            &[&echo],
        )
        .await;
        assert_eq!(code, 0);
        let logged = echo
            .wait_for_stderr(
                "transition",
                Duration::from_secs(if shown { 20 } else { 1 }),
            )
            .await;
        Cast(vec![&echo]).check(logged == shown, || {
            format!("RUST_LOG={rust_log:?}: transition lines shown: {logged}")
        });
        if shown {
            let line = echo
                .stderr()
                .into_iter()
                .find(|l| l.contains("handshake_ok"))
                .unwrap_or_default();
            for part in [
                "river.session{",
                "role=\"server\"",
                "peer=\"logged-client\"",
                "session_id=\"session-",
            ] {
                Cast(vec![&echo]).check(line.contains(part), || {
                    format!("{part} missing from the transition line {line:?}")
                });
            }
        }
    }
}
