//! The status page in a real browser: headless Chromium (Debian's `chromium`), driven over the
//! Chrome `DevTools` protocol by a small client below, watches a server's page while a client
//! connects, loses its connection, and resumes. With `UPDATE_SCREENSHOT=1` the screenshot is
//! written to `docs/status-page.png`; otherwise beside the test binaries.
//!
//! Chromium is looked for on `PATH`; when it is missing the test tries `apt-get install
//! chromium`, and only if that fails too does it skip, saying so.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use statebound_river::echo_service::{Msg, service};
use statebound_river::metrics::Metrics;
use statebound_river::router::{RiverClient, serve};
use statebound_river::status::StatusPage;
use statebound_river::transport::{
    ClientOptions, ClientTransport, DialError, ServerOptions, ServerTransport, UrlFn, WsDialer,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

// ----- a small `DevTools` protocol client ---------------------------------------------------

struct Browser {
    child: Child,
    profile: PathBuf,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Chromium's helper processes may write to the profile a moment longer.
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Browser {
    async fn launch(program: &Path) -> Browser {
        let profile =
            std::env::temp_dir().join(format!("river-status-chromium-{}", std::process::id()));
        let mut child = Command::new(program)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,1100",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium prints its DevTools address within 30 s");
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("the DevTools socket accepts");
        Browser {
            child,
            profile,
            ws,
            next_id: 0,
            session: None,
        }
    }

    /// Sends one command (to the attached page, once there is one) and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            msg["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("DevTools socket writes");
        let reply = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let frame = self.ws.next().await.expect("DevTools socket open").unwrap();
                let Message::Text(text) = frame else { continue };
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["id"] == json!(id) {
                    return value;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} within 30 s"));
        assert!(reply.get("error").is_none(), "{method} failed: {reply}");
        reply["result"].clone()
    }

    /// Opens `url` in a new page and attaches to it.
    async fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", json!({"url": url})).await;
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        self.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Waits (at most 15 s, polling) until `expression` evaluates to `expected` in the page.
    async fn wait_for(&mut self, expression: &str, expected: Value) {
        let mut last = Value::Null;
        for _ in 0..150 {
            last = self.eval(expression).await;
            if last == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{expression}` stayed {last}, expected {expected}");
    }

    async fn screenshot(&mut self) -> Vec<u8> {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}

// ----- the scenario ------------------------------------------------------------------------

/// A client whose network can be switched off: while `online` is false its dials fail.
fn client(id: &str, server: SocketAddr, online: Arc<AtomicBool>) -> RiverClient {
    let url: UrlFn = Arc::new(move |_| {
        let up = online.load(Ordering::SeqCst);
        Box::pin(async move {
            if up {
                Ok(format!("ws://{server}/"))
            } else {
                Err(DialError::retriable("the test took the network down"))
            }
        })
    });
    let transport =
        ClientTransport::new(id, Arc::new(WsDialer::new(url)), ClientOptions::default());
    RiverClient::new(transport, "SERVER")
}

fn count(state: &str) -> String {
    format!("document.getElementById('count-{state}').textContent")
}

fn row_state(peer: &str) -> String {
    format!(
        "(document.querySelector('#sessions tr[data-peer=\"{peer}\"]') || {{dataset: {{}}}}).dataset.state || null"
    )
}

async fn echo(client: &RiverClient, text: &str) {
    let out: Msg = tokio::time::timeout(
        Duration::from_secs(10),
        client.rpc("test", "echo", &Msg { msg: text.into() }),
    )
    .await
    .expect("echo answers within 10 s")
    .unwrap();
    assert_eq!(out.msg, text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_sessions_as_they_connect_drop_and_resume() {
    let Some(program) = crate::programs::find_or_install(
        "status_page",
        "chromium",
        &["chromium", "chromium-browser"],
    ) else {
        eprintln!(
            "status_page: SKIPPED: chromium is not installed and could not be installed \
             (apt-get install chromium); the status page was not tested in a browser"
        );
        return;
    };
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            metrics: Some(metrics.clone()),
            ..ServerOptions::default()
        },
    );
    let _router = serve(&server, vec![service()]);
    let river = server.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let page = StatusPage::new(&server, Arc::new(registry));
    let (http, _serving) = page.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();

    let mut browser = Browser::launch(&program).await;
    browser.open(&format!("http://{http}/")).await;
    browser
        .wait_for("document.getElementById('live').textContent", json!("live"))
        .await;
    browser.wait_for(&count("Connected"), json!("0")).await;
    assert_offline(&mut browser, http).await;

    // Two clients connect.
    let online = Arc::new(AtomicBool::new(true));
    let steady = client("steady-client", river, Arc::new(AtomicBool::new(true)));
    let flaky = client("flaky-client", river, Arc::clone(&online));
    echo(&steady, "one").await;
    echo(&flaky, "two").await;
    browser.wait_for(&count("Connected"), json!("2")).await;
    browser
        .wait_for(&row_state("flaky-client"), json!("Connected"))
        .await;
    let session_id = browser
        .eval("document.querySelector('#sessions tr[data-peer=\"flaky-client\"] td.mono').textContent")
        .await;
    assert_eq!(
        session_id,
        json!(server.session_id("flaky-client").unwrap()),
        "the table shows the session's id"
    );

    // One loses its network: its server session waits in NoConnection.
    online.store(false, Ordering::SeqCst);
    flaky.transport().drop_connections();
    browser.wait_for(&count("NoConnection"), json!("1")).await;
    browser.wait_for(&count("Connected"), json!("1")).await;
    browser
        .wait_for(&row_state("flaky-client"), json!("NoConnection"))
        .await;
    assert_eq!(metrics.sessions_in("NoConnection"), 1);

    // The network comes back: the client resumes the same session.
    online.store(true, Ordering::SeqCst);
    browser.wait_for(&count("Connected"), json!("2")).await;
    browser.wait_for(&count("NoConnection"), json!("0")).await;
    echo(&flaky, "three").await;
    assert_eq!(
        server.session_id("flaky-client").map(Value::from),
        Some(session_id),
        "the session was resumed, not replaced"
    );
    browser
        .wait_for(
            "[...document.querySelectorAll('#transitions td')].some(td => td.textContent.includes('(connection_lost)'))",
            json!(true),
        )
        .await;
    // Seq and ack of the flaky session moved past the three calls' frames.
    let seq_ack = browser
        .eval("document.querySelector('#sessions tr[data-peer=\"flaky-client\"]').children[4].textContent")
        .await;
    assert_ne!(seq_ack, json!("0 / 0"), "seq/ack shown: {seq_ack}");

    save_screenshot(&browser.screenshot().await);
}

/// Everything the page loaded came from the status server itself.
async fn assert_offline(browser: &mut Browser, http: SocketAddr) {
    let loaded = browser
        .eval("performance.getEntriesByType('resource').map(e => e.name).concat([location.href])")
        .await;
    let own = format!("http://{http}/");
    for url in loaded.as_array().unwrap() {
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with(&own),
            "the page loaded {url} from elsewhere"
        );
    }
    assert_eq!(
        browser
            .eval("document.querySelectorAll('script[src], link[href], img[src]').length")
            .await,
        json!(0),
        "no external script, style sheet or image"
    );
}

/// Writes the screenshot to `docs/` with `UPDATE_SCREENSHOT=1`, beside the test binaries
/// otherwise.
fn save_screenshot(png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let out = if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/status-page.png")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png")
    };
    std::fs::write(&out, png).unwrap();
    eprintln!("status_page: screenshot in {}", out.display());
}

/// `/metrics` and `/healthz` answer plain HTTP clients (Prometheus, a load balancer).
#[tokio::test]
async fn metrics_and_healthz_answer_over_http() {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            metrics: Some(metrics),
            ..ServerOptions::default()
        },
    );
    let page = StatusPage::new(&server, Arc::new(registry));
    let (http, _serving) = page.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let get = |path: &'static str| async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut tcp = TcpStream::connect(http).await.unwrap();
        tcp.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        out
    };
    let scraped = get("/metrics").await;
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(
        scraped.contains("river_sessions{state=\"Connected\"} 0"),
        "{scraped}"
    );
    assert!(scraped.contains("# EOF"), "{scraped}");
    let health = get("/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let status: Value =
        serde_json::from_str(get("/api/status").await.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(status["sessions"], json!([]));
    server.close().await;
    let mut closed = String::new();
    for _ in 0..50 {
        closed = get("/healthz").await;
        if closed.starts_with("HTTP/1.1 503") {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(closed.starts_with("HTTP/1.1 503"), "{closed}");
}
