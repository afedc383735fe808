//! Schedules: traffic and faults at set times, generated from a seed or written out by name
//! (River's cross-language scenarios from `replit/river-babel`).

use std::fmt;
use std::time::Duration;

use statebound_river::wire::CodecKind;

use super::net::{Dials, Way};
use super::rng::Rng;

/// River-babel's timing: heartbeats every 500 ms, a connection is dead after two missed, and a
/// session lasts 3 s without one.
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(500);
pub(crate) const HEARTBEATS_UNTIL_DEAD: u32 = 2;
pub(crate) const GRACE: Duration = Duration::from_secs(3);
/// Long enough for a dead connection to be noticed (babel's `WS_DISCONNECT_PERIOD_MS`).
pub(crate) const CONNECTION_DEATH: Duration = Duration::from_millis(1250);
/// Long enough for a session to end without a connection (babel's `SESSION_DISCONNECT_MS`).
pub(crate) const SESSION_DEATH: Duration = Duration::from_millis(4250);

/// What happens at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// An rpc that echoes its id.
    Rpc { client: usize },
    /// A stream: `requests` requests `gap` apart, each echoed.
    Stream {
        client: usize,
        requests: u32,
        gap: Duration,
    },
    /// An upload of `requests` requests `gap` apart; the result lists them.
    Upload {
        client: usize,
        requests: u32,
        gap: Duration,
    },
    /// A subscription of `items` results `gap` apart.
    Subscribe {
        client: usize,
        items: u32,
        gap: Duration,
    },
    /// `count` messages from the server to the client, outside any call, `gap` apart.
    Push {
        client: usize,
        count: u32,
        gap: Duration,
    },
    /// A fault.
    Fault(Fault),
}

/// A fault of the network or of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The client's links reset.
    Drop { client: usize },
    /// The client's links close cleanly.
    CleanClose { client: usize },
    /// The client's links swallow everything for a while.
    BlackHole { client: usize, lasts: Duration },
    /// One direction of the client's links swallows everything for a while.
    HalfOpen {
        client: usize,
        way: Way,
        lasts: Duration,
    },
    /// The client's latency changes for a while.
    Delay {
        client: usize,
        delay: Duration,
        lasts: Duration,
    },
    /// The client is cut off (links and dials) for a while.
    Partition {
        client: usize,
        dials: Dials,
        lasts: Duration,
    },
    /// The server process dies and a new one takes its address, with no sessions.
    RestartServer,
    /// The client process dies and a new one with the same client id takes its place.
    ClientAmnesia { client: usize },
}

/// One timed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) at: Duration,
    pub(crate) action: Action,
    /// What a call must come to, in the scenarios that say.
    pub(crate) expect: Expect,
}

/// What a call must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Whatever the checks allow (random schedules).
    Any,
    /// It ends well.
    Ok,
    /// It fails with `UNEXPECTED_DISCONNECT`: its session ends under it.
    Disconnect,
    /// It fails so, and no handler ever ran it: what a session buffered when it ended is not
    /// sent on the next one.
    NeverSent,
}

/// Everything a run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub(crate) name: String,
    pub(crate) clients: usize,
    /// The codec each client writes (the server answers in the codec of a connection's first
    /// frame).
    pub(crate) codecs: Vec<CodecKind>,
    /// In time order.
    pub(crate) steps: Vec<Step>,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "schedule {} ({} clients, codecs {:?}):",
            self.name, self.clients, self.codecs
        )?;
        for step in &self.steps {
            writeln!(f, "  {:>6} ms  {:?}", step.at.as_millis(), step.action)?;
        }
        Ok(())
    }
}

impl Schedule {
    /// A schedule whose clients write JSON.
    pub(crate) fn new(name: &str, clients: usize, mut steps: Vec<Step>) -> Self {
        steps.sort_by_key(|s| s.at);
        Schedule {
            name: name.to_owned(),
            clients,
            codecs: vec![CodecKind::Json; clients],
            steps,
        }
    }

    /// This schedule with its clients writing `codecs`.
    fn with_codecs(mut self, codecs: Vec<CodecKind>) -> Self {
        assert_eq!(codecs.len(), self.clients);
        self.codecs = codecs;
        self
    }

    /// A random schedule: one to three clients, 10 to 40 calls and pushes of every kind, and
    /// one to seven faults of every kind, at random times over 4 to 12 seconds.
    pub(crate) fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let clients = *rng.pick(&[1, 1, 2, 2, 3]);
        let horizon = rng.range(4_000, 12_000);
        let mut steps = Vec::new();
        for _ in 0..rng.range(10, 40) {
            let at = rng.millis(0, horizon);
            let client = usize::try_from(rng.range(0, clients as u64 - 1)).unwrap_or_default();
            let action = match rng.range(0, 9) {
                0..=2 => Action::Rpc { client },
                3 | 4 => Action::Stream {
                    client,
                    requests: u32::try_from(rng.range(1, 8)).unwrap_or(1),
                    gap: rng.millis(0, 300),
                },
                5 | 6 => Action::Upload {
                    client,
                    requests: u32::try_from(rng.range(0, 8)).unwrap_or(1),
                    gap: rng.millis(0, 300),
                },
                7 => Action::Subscribe {
                    client,
                    items: u32::try_from(rng.range(1, 8)).unwrap_or(1),
                    gap: rng.millis(20, 400),
                },
                _ => Action::Push {
                    client,
                    count: u32::try_from(rng.range(1, 10)).unwrap_or(1),
                    gap: rng.millis(0, 200),
                },
            };
            steps.push(Step {
                at,
                action,
                expect: Expect::Any,
            });
        }
        for _ in 0..rng.range(1, 7) {
            let at = rng.millis(0, horizon);
            let client = usize::try_from(rng.range(0, clients as u64 - 1)).unwrap_or_default();
            // Blips shorter than a heartbeat, outages the connection does not survive, and
            // outages the session does not survive.
            let lasts = match rng.range(0, 2) {
                0 => rng.millis(50, 900),
                1 => rng.millis(1_300, 2_500),
                _ => rng.millis(3_500, 5_000),
            };
            let fault = match rng.range(0, 19) {
                0..=2 => Fault::Drop { client },
                3 | 4 => Fault::CleanClose { client },
                5..=7 => Fault::BlackHole { client, lasts },
                8..=10 => Fault::HalfOpen {
                    client,
                    way: *rng.pick(&[Way::ToServer, Way::ToClient]),
                    lasts,
                },
                11 | 12 => Fault::Delay {
                    client,
                    delay: rng.millis(1, 400),
                    lasts,
                },
                13..=16 => Fault::Partition {
                    client,
                    dials: *rng.pick(&[Dials::Refused, Dials::Hang]),
                    lasts,
                },
                17 => Fault::RestartServer,
                _ => Fault::ClientAmnesia { client },
            };
            steps.push(Step {
                at,
                action: Action::Fault(fault),
                expect: Expect::Any,
            });
        }
        // Drawn apart from the steps, so the steps of a seed stay what they were before clients
        // had codecs.
        let mut codec = Rng::new(!seed);
        let codecs = (0..clients)
            .map(|_| *codec.pick(&[CodecKind::Json, CodecKind::Msgpack]))
            .collect();
        Schedule::new(&format!("random seed {seed}"), clients, steps).with_codecs(codecs)
    }
}

/// A step at `ms` whose call (if it is one) must end well.
pub(crate) fn at(ms: u64, action: Action) -> Step {
    Step {
        at: Duration::from_millis(ms),
        action,
        expect: Expect::Ok,
    }
}

/// A call at `ms`, made while disconnected, that must fail with `UNEXPECTED_DISCONNECT` and never
/// reach a server.
fn never_sent(ms: u64, action: Action) -> Step {
    Step {
        expect: Expect::NeverSent,
        ..at(ms, action)
    }
}

/// A call at `ms` that must fail with `UNEXPECTED_DISCONNECT`.
fn lost(ms: u64, action: Action) -> Step {
    Step {
        expect: Expect::Disconnect,
        ..at(ms, action)
    }
}

fn fault(ms: u64, fault: Fault) -> Step {
    at(ms, Action::Fault(fault))
}

fn partition(ms: u64, client: usize, lasts: Duration) -> Step {
    fault(
        ms,
        Fault::Partition {
            client,
            dials: Dials::Refused,
            lasts,
        },
    )
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// River-babel's network scenarios, as schedules: babel's `disconnect_network` is a partition
/// (its tests cut a container off its network).
#[allow(clippy::too_many_lines, reason = "one scenario after another")]
pub(crate) fn named() -> Vec<Schedule> {
    let rpc = |client| Action::Rpc { client };
    let stream = |client, requests| Action::Stream {
        client,
        requests,
        gap: Duration::from_millis(50),
    };
    let blip = Duration::from_millis(100);
    vec![
        // SurvivesTransientNetworkBlips
        Schedule::new(
            "transient blips",
            1,
            vec![
                at(0, rpc(0)),
                partition(500, 0, blip),
                at(700, rpc(0)),
                partition(1_000, 0, blip),
                at(1_050, stream(0, 5)),
            ],
        ),
        // ShortConnectionDisconnectTest
        Schedule::new(
            "short disconnect",
            1,
            vec![
                at(0, rpc(0)),
                partition(500, 0, CONNECTION_DEATH),
                at(500 + ms(CONNECTION_DEATH), rpc(0)),
            ],
        ),
        // SessionDisconnectTest, ShouldNotSendBufferAfterSessionDisconnect, *DisconnectNotifs
        Schedule::new(
            "session-length disconnect",
            1,
            vec![
                at(0, rpc(0)),
                lost(
                    100,
                    Action::Subscribe {
                        client: 0,
                        items: 20,
                        gap: Duration::from_millis(400),
                    },
                ),
                lost(200, stream(0, 30)),
                lost(
                    300,
                    Action::Upload {
                        client: 0,
                        requests: 30,
                        gap: Duration::from_millis(100),
                    },
                ),
                partition(1_000, 0, SESSION_DEATH),
                never_sent(1_100, rpc(0)),
                at(1_000 + ms(SESSION_DEATH) + 100, rpc(0)),
            ],
        ),
        // BuffersWhileDisconnectedTest, BufferedMessagesShouldTakePrecedenceOverNewMessages
        Schedule::new(
            "buffering while disconnected",
            1,
            vec![
                at(0, rpc(0)),
                partition(500, 0, CONNECTION_DEATH),
                at(600, stream(0, 10)),
                at(
                    650,
                    Action::Push {
                        client: 0,
                        count: 10,
                        gap: Duration::from_millis(10),
                    },
                ),
                at(700, rpc(0)),
            ],
        ),
        // MessageOrderingPreservedDuringDisconnect
        Schedule::new("ordering during disconnect", 1, {
            let mut steps = vec![at(0, rpc(0)), partition(500, 0, CONNECTION_DEATH)];
            steps.extend((0..10).map(|i| at(600 + i, rpc(0))));
            steps.push(at(600, stream(0, 20)));
            steps
        }),
        // TwoClientDisconnectTest
        Schedule::new(
            "two clients, one disconnects",
            2,
            vec![
                at(0, rpc(0)),
                at(0, rpc(1)),
                at(100, stream(0, 10)),
                at(100, stream(1, 10)),
                partition(500, 0, CONNECTION_DEATH),
                at(600, rpc(0)),
                at(600, rpc(1)),
                at(
                    700,
                    Action::Push {
                        client: 1,
                        count: 10,
                        gap: Duration::from_millis(20),
                    },
                ),
            ],
        )
        .with_codecs(vec![CodecKind::Json, CodecKind::Msgpack]),
        // RepeatedConnectReconnectTest, ShortDisconnectMultipleTimes
        Schedule::new("repeated connect and reconnect", 1, {
            let mut steps = vec![at(
                0,
                Action::Subscribe {
                    client: 0,
                    items: 30,
                    gap: Duration::from_millis(200),
                },
            )];
            for round in 0..4 {
                let t = 500 + round * 2_000;
                steps.push(at(t, rpc(0)));
                steps.push(partition(t + 100, 0, CONNECTION_DEATH));
                steps.push(at(t + 200, rpc(0)));
            }
            steps
        }),
        // ManyRpcs, ManyStreams (fewer than babel's 5,000: each is checked one by one)
        Schedule::new("volume", 1, {
            let mut steps: Vec<Step> = (0..300).map(|i| at(i / 10, rpc(0))).collect();
            steps.push(at(0, stream(0, 300)));
            steps.push(at(
                0,
                Action::Push {
                    client: 0,
                    count: 300,
                    gap: Duration::ZERO,
                },
            ));
            steps
        }),
        // MismatchedServerInstanceDoesntGetResentStaleMessagesFromClient
        Schedule::new(
            "server instance mismatch",
            1,
            vec![
                at(0, rpc(0)),
                lost(
                    300,
                    Action::Upload {
                        client: 0,
                        requests: 3,
                        gap: Duration::from_millis(300),
                    },
                ),
                fault(500, Fault::RestartServer),
                at(1_500, rpc(0)),
            ],
        ),
        // MismatchedClientInstanceDoesntGetResentStaleMessagesFromServer
        Schedule::new(
            "client instance mismatch",
            1,
            vec![
                lost(
                    0,
                    Action::Upload {
                        client: 0,
                        requests: 5,
                        gap: Duration::from_millis(200),
                    },
                ),
                fault(300, Fault::ClientAmnesia { client: 0 }),
                at(
                    400,
                    Action::Upload {
                        client: 0,
                        requests: 3,
                        gap: Duration::from_millis(50),
                    },
                ),
            ],
        ),
        // Beyond babel: a server restart and a client that forgets, mid-traffic.
        Schedule::new(
            "server restart and client amnesia",
            2,
            vec![
                lost(0, stream(0, 20)),
                lost(0, stream(1, 20)),
                fault(300, Fault::RestartServer),
                // After the client has heard its session is gone: one made earlier may be
                // queued on the old session and fail with it.
                at(1_500, rpc(0)),
                fault(800, Fault::ClientAmnesia { client: 1 }),
                at(900, rpc(1)),
                at(900, stream(1, 5)),
            ],
        ),
        // Beyond babel: half-open links both ways and a black hole.
        Schedule::new(
            "half-open links and a black hole",
            1,
            vec![
                at(0, stream(0, 40)),
                fault(
                    200,
                    Fault::HalfOpen {
                        client: 0,
                        way: Way::ToServer,
                        lasts: Duration::from_secs(3),
                    },
                ),
                fault(
                    3_000,
                    Fault::HalfOpen {
                        client: 0,
                        way: Way::ToClient,
                        lasts: Duration::from_secs(3),
                    },
                ),
                fault(
                    6_000,
                    Fault::BlackHole {
                        client: 0,
                        lasts: Duration::from_secs(2),
                    },
                ),
                at(6_100, rpc(0)),
            ],
        ),
    ]
}
