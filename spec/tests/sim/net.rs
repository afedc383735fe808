//! A simulated network on tokio's clock: links between client and server transports that
//! deliver frames in order after a delay, and faults a test applies to them.
//!
//! A link has two directions (client to server, server to client); each direction is a queue
//! of frames with the instant each becomes readable. Faults act on the links of one client:
//!
//! - **drop**: the link breaks at once, as on a reset; both ends see it closed, and what was in
//!   flight is lost;
//! - **clean close**: a close frame (1001, going away) follows what is in flight, both ways, as a
//!   proxy that shuts the connection down;
//! - **black hole**: frames (close frames too) vanish both ways and the link stays up;
//! - **half-open**: the same in one direction only;
//! - **delay**: each direction's one-way latency changes; order is kept, as on TCP;
//! - **partition**: the links black-hole and new dials fail, either refused at once or hanging
//!   until the client gives them up, until healed.
//!
//! Every end counts itself while alive, and every link while one of its ends is, so a test can
//! see that nothing is left.

use core::task::{Context, Poll, Waker};
use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use statebound_river::session::{
    BoxFuture, CloseCode, Connection, ConnectionClosed, ConnectionEvent, ConnectionId,
};
use statebound_river::transport::{DialError, Dialer, ServerTransport};
use tokio::time::{Instant, Sleep};

/// The close code of a clean close by the network (a proxy going away).
pub(crate) const GOING_AWAY: CloseCode = CloseCode(1001);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which way frames travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    ToServer = 0,
    ToClient = 1,
}

#[derive(Debug)]
enum Item {
    Frame(Bytes),
    Close(Option<CloseCode>),
}

#[derive(Debug, Default)]
struct Direction {
    queue: VecDeque<(Instant, Item)>,
    /// Frames written this way vanish.
    dead: bool,
    delay: Duration,
    /// When the last frame queued this way becomes readable: no frame overtakes another.
    last: Option<Instant>,
    /// The reading end, waiting.
    waker: Option<Waker>,
}

impl Direction {
    fn push(&mut self, item: Item) {
        if self.dead {
            return;
        }
        let at = (Instant::now() + self.delay).max(self.last.unwrap_or_else(Instant::now));
        self.last = Some(at);
        self.queue.push_back((at, item));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

#[derive(Debug, Default)]
struct LinkState {
    ways: [Direction; 2],
    /// Reset: both ends are closed, everything in flight is gone.
    broken: bool,
    ends_alive: u8,
}

#[derive(Debug)]
struct Link {
    client: String,
    state: Mutex<LinkState>,
}

impl Link {
    fn state(&self) -> MutexGuard<'_, LinkState> {
        lock(&self.state)
    }
}

/// How a partition treats new dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dials {
    /// Refused at once.
    Refused,
    /// Never answered: the client's connection timeout gives them up.
    Hang,
}

#[derive(Debug, Default)]
struct NetState {
    servers: BTreeMap<String, ServerTransport>,
    links: Vec<Arc<Link>>,
    partitioned: BTreeMap<String, Dials>,
    delays: BTreeMap<String, Duration>,
    dials: u64,
}

/// The network: servers by address, links, faults.
#[derive(Debug, Clone, Default)]
pub(crate) struct Net {
    state: Arc<Mutex<NetState>>,
    ends: Arc<AtomicUsize>,
}

impl Net {
    fn state(&self) -> MutexGuard<'_, NetState> {
        lock(&self.state)
    }

    /// Puts `server` at `address`, in place of whatever was there.
    pub(crate) fn listen(&self, address: &str, server: ServerTransport) {
        self.state().servers.insert(address.to_owned(), server);
    }

    /// Takes the server at `address` off the network.
    pub(crate) fn unlisten(&self, address: &str) -> Option<ServerTransport> {
        self.state().servers.remove(address)
    }

    /// Links of `client` (every link for `None`) still open at either end.
    fn links_of(&self, client: Option<&str>) -> Vec<Arc<Link>> {
        let mut state = self.state();
        state.links.retain(|l| l.state().ends_alive > 0);
        state
            .links
            .iter()
            .filter(|l| client.is_none_or(|c| l.client == c))
            .cloned()
            .collect()
    }

    /// Links with an end still open.
    pub(crate) fn open_links(&self) -> usize {
        self.links_of(None).len()
    }

    /// Connection ends not yet dropped.
    pub(crate) fn live_ends(&self) -> usize {
        self.ends.load(Ordering::SeqCst)
    }

    /// Dials made so far.
    pub(crate) fn dials(&self) -> u64 {
        self.state().dials
    }

    /// Resets the links of `client` (all links for `None`).
    pub(crate) fn drop_links(&self, client: Option<&str>) {
        for link in self.links_of(client) {
            let mut s = link.state();
            s.broken = true;
            for way in &mut s.ways {
                way.queue.clear();
                way.wake();
            }
        }
    }

    /// Closes the links of `client` cleanly, both ways, after what is in flight.
    pub(crate) fn close_links(&self, client: &str) {
        for link in self.links_of(Some(client)) {
            let mut s = link.state();
            for way in &mut s.ways {
                way.push(Item::Close(Some(GOING_AWAY)));
            }
        }
    }

    /// Makes frames on the current links of `client` vanish (or flow again) in `ways`.
    pub(crate) fn set_dead(&self, client: &str, ways: &[Way], dead: bool) {
        for link in self.links_of(Some(client)) {
            let mut s = link.state();
            for &way in ways {
                let d = &mut s.ways[way as usize];
                d.dead = dead;
                if dead {
                    d.queue.clear();
                }
            }
        }
    }

    /// Sets the one-way latency of the links of `client`, current and future.
    pub(crate) fn set_delay(&self, client: &str, delay: Duration) {
        self.state().delays.insert(client.to_owned(), delay);
        for link in self.links_of(Some(client)) {
            for way in &mut link.state().ways {
                way.delay = delay;
            }
        }
    }

    /// Cuts `client` off: its links black-hole and its dials fail as `dials` says.
    pub(crate) fn partition(&self, client: &str, dials: Dials) {
        self.state().partitioned.insert(client.to_owned(), dials);
        self.set_dead(client, &[Way::ToServer, Way::ToClient], true);
    }

    /// Ends the partition of `client` (its black-holed links stay dead; new ones work).
    pub(crate) fn heal(&self, client: &str) {
        self.state().partitioned.remove(client);
    }

    /// Opens a link from `client` to the server at `address`.
    async fn dial(&self, client: &str, address: &str) -> Result<SimConnection, DialError> {
        let (partition, delay) = {
            let mut state = self.state();
            state.dials += 1;
            let delay = state.delays.get(client).copied().unwrap_or_default();
            (state.partitioned.get(client).copied(), delay)
        };
        match partition {
            Some(Dials::Refused) => return Err(DialError::retriable("connection refused")),
            Some(Dials::Hang) => std::future::pending::<()>().await,
            None => {}
        }
        // The TCP and WebSocket handshakes: a round trip.
        tokio::time::sleep(delay * 2).await;
        let (server, partitioned) = {
            let state = self.state();
            let server = state.servers.get(address).cloned();
            (server, state.partitioned.contains_key(client))
        };
        let Some(server) = server else {
            return Err(DialError::retriable("connection refused: nothing listens"));
        };
        if partitioned {
            return Err(DialError::retriable("connection refused"));
        }
        let link = Arc::new(Link {
            client: client.to_owned(),
            state: Mutex::new(LinkState::default()),
        });
        {
            let mut s = link.state();
            s.ends_alive = 2;
            for way in &mut s.ways {
                way.delay = delay;
            }
        }
        self.state().links.push(Arc::clone(&link));
        let client_end = SimConnection::new(Arc::clone(&link), Way::ToServer, &self.ends);
        let server_end = SimConnection::new(link, Way::ToClient, &self.ends);
        server
            .accept_connection(Box::new(server_end))
            .map_err(|e| DialError::retriable(e.to_string()))?;
        Ok(client_end)
    }
}

/// One end of a link.
pub(crate) struct SimConnection {
    id: ConnectionId,
    link: Arc<Link>,
    /// The direction this end writes.
    out: Way,
    closed: bool,
    peer_code: Option<CloseCode>,
    timer: Option<Pin<Box<Sleep>>>,
    ends: Arc<AtomicUsize>,
}

impl std::fmt::Debug for SimConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConnection")
            .field("id", &self.id)
            .field("out", &self.out)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl SimConnection {
    fn new(link: Arc<Link>, out: Way, ends: &Arc<AtomicUsize>) -> Self {
        ends.fetch_add(1, Ordering::SeqCst);
        SimConnection {
            id: ConnectionId::next(),
            link,
            out,
            closed: false,
            peer_code: None,
            timer: None,
            ends: Arc::clone(ends),
        }
    }

    fn incoming(&self) -> usize {
        1 - self.out as usize
    }
}

impl Connection for SimConnection {
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn send(&mut self, frame: Bytes) -> Result<(), ConnectionClosed> {
        if self.closed {
            return Err(ConnectionClosed(self.id));
        }
        let mut s = self.link.state();
        if s.broken {
            drop(s);
            self.closed = true;
            return Err(ConnectionClosed(self.id));
        }
        s.ways[self.out as usize].push(Item::Frame(frame));
        Ok(())
    }

    fn close(&mut self, code: CloseCode) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.timer = None;
        let mut s = self.link.state();
        if !s.broken {
            s.ways[self.out as usize].push(Item::Close(Some(code)));
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionEvent> {
        loop {
            if self.closed {
                self.timer = None;
                return Poll::Ready(ConnectionEvent::Closed {
                    code: self.peer_code,
                });
            }
            let incoming = self.incoming();
            let mut s = self.link.state();
            if s.broken {
                self.closed = true;
                continue;
            }
            let way = &mut s.ways[incoming];
            match way.queue.front() {
                None => {
                    way.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Some(&(at, _)) if at > Instant::now() => {
                    way.waker = Some(cx.waker().clone());
                    drop(s);
                    let timer = self
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    if timer.deadline() != at {
                        timer.as_mut().reset(at);
                    }
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Some(_) => match way.queue.pop_front().map(|(_, item)| item) {
                    Some(Item::Frame(frame)) => return Poll::Ready(ConnectionEvent::Frame(frame)),
                    Some(Item::Close(code)) => {
                        self.closed = true;
                        self.peer_code = code;
                    }
                    None => unreachable!("the front was just seen"),
                },
            }
        }
    }
}

impl Drop for SimConnection {
    fn drop(&mut self) {
        let mut s = self.link.state();
        if !self.closed && !s.broken {
            // A socket dropped without a close frame: the peer sees it end without a code.
            s.ways[self.out as usize].push(Item::Close(None));
        }
        s.ends_alive -= 1;
        drop(s);
        self.ends.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Dials through the network as one client.
#[derive(Debug, Clone)]
pub(crate) struct SimDialer {
    pub(crate) net: Net,
    pub(crate) client: String,
}

impl Dialer for SimDialer {
    fn dial<'a>(&'a self, to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        Box::pin(async move {
            let conn = self.net.dial(&self.client, to).await?;
            let conn: Box<dyn Connection> = Box::new(conn);
            Ok(conn)
        })
    }
}
