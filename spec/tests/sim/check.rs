//! What every run must show, judged from its record. Each check returns the violations it
//! finds, in words.

use std::collections::BTreeMap;

use statebound_river::graph::session::GRAPH;
use statebound_river::router::codes::UNEXPECTED_DISCONNECT;
use statebound_river::session::SessionStatus;

use super::schedule::{Action, Expect, Schedule};
use super::world::{
    ClientCall, End, Kind, Leftovers, Log, Obs, Record, ServerCall, client_id, read_push,
};

/// Every call of `schedule` that did not come to what its step expects.
pub(crate) fn unexpected(schedule: &Schedule, record: &Record) -> Vec<String> {
    let mut out = Vec::new();
    for (index, step) in schedule.steps.iter().enumerate() {
        if matches!(step.action, Action::Fault(_) | Action::Push { .. }) {
            continue;
        }
        let end = record
            .calls
            .iter()
            .find(|c| c.id == index as u64)
            .map(|c| &c.end);
        let disconnected =
            matches!(end, Some(End::Err { code, .. }) if code == UNEXPECTED_DISCONNECT);
        let ran = record.served.keys().any(|&(id, _)| id == index as u64);
        let fine = match step.expect {
            Expect::Any => true,
            Expect::Ok => end == Some(&End::Ok),
            Expect::Disconnect => disconnected,
            Expect::NeverSent => disconnected && !ran,
        };
        if !fine {
            out.push(format!(
                "step {index} ({:?}) should end {:?}, ended {end:?}",
                step.action, step.expect
            ));
        }
    }
    out
}

/// Every violation in `record`.
pub(crate) fn violations(record: &Record) -> Vec<String> {
    let mut out = Vec::new();
    for call in &record.calls {
        let served: Vec<(usize, &ServerCall)> = record
            .served
            .range((call.id, 0)..=(call.id, usize::MAX))
            .map(|(&(_, server), s)| (server, s))
            .collect();
        check_call(call, &served, &mut out);
    }
    for log in &record.logs {
        check_lifecycles(log, &mut out);
    }
    check_pushes(record, &mut out);
    for (client, outcome) in record.recovery.iter().enumerate() {
        if let Err(e) = outcome {
            out.push(format!(
                "{} could not call once the network healed: {e}",
                client_id(client)
            ));
        }
    }
    for stuck in &record.stuck {
        out.push(format!("did not finish: {stuck}"));
    }
    if record.leftovers != Leftovers::default() {
        out.push(format!("left after close(): {:?}", record.leftovers));
    }
    out
}

/// `got` is 0, 1, 2, ... : each item once, in order, none skipped.
fn in_order(got: &[u64]) -> bool {
    got.iter().zip(0u64..).all(|(&g, i)| g == i)
}

/// `served`: the call as each server process that ran it saw it, in order of the processes.
/// A process that dies takes its sessions with it; a later process may run the call again
/// (see RELIABILITY.md, "Random faults", on restarts), but each process at most once.
fn check_call(call: &ClientCall, processes: &[(usize, &ServerCall)], out: &mut Vec<String>) {
    let what = format!(
        "{:?} call {} of {}",
        call.kind,
        call.id,
        client_id(call.client)
    );
    let mut bad = |why: String| out.push(format!("{what}: {why}"));
    if let End::Err { code, message } = &call.end
        && code != UNEXPECTED_DISCONNECT
    {
        bad(format!(
            "failed with {code} ({message}), not {UNEXPECTED_DISCONNECT}"
        ));
    }
    if call.after_end > 0 {
        bad(format!(
            "{} results arrived after its error",
            call.after_end
        ));
    }
    let ok = call.end == End::Ok;
    match call.kind {
        Kind::Rpc => {
            if ok && call.got != [call.id] {
                bad(format!("answered {:?}", call.got));
            }
        }
        Kind::Stream | Kind::Subscribe => {
            if !in_order(&call.got) {
                bad(format!("results out of order or repeated: {:?}", call.got));
            }
            if ok && call.got.len() != call.written as usize {
                bad(format!(
                    "ended well with {} of {} results",
                    call.got.len(),
                    call.written
                ));
            }
        }
        Kind::Upload => {
            if ok && (call.got.len() != call.written as usize || !in_order(&call.got)) {
                bad(format!(
                    "the server collected {:?} of {} requests",
                    call.got, call.written
                ));
            }
        }
    }
    let Some(&(last, served)) = processes.last() else {
        if ok {
            bad("ended well but no handler ran".into());
        }
        return;
    };
    for (server, s) in &processes[..processes.len() - 1] {
        check_served(call, *server, s, false, &mut bad);
    }
    check_served(call, last, served, ok, &mut bad);
}

/// The call as server process `process` saw it; `complete`: the call ended well there.
fn check_served(
    call: &ClientCall,
    process: usize,
    served: &ServerCall,
    complete: bool,
    bad: &mut impl FnMut(String),
) {
    if served.runs > 1 {
        bad(format!(
            "its handler ran {} times in server process {process}",
            served.runs
        ));
    }
    if served.client != client_id(call.client) {
        bad(format!("served for {}", served.client));
    }
    if served.after_cancel > 0 {
        bad(format!(
            "its handler received {} requests after the call was cancelled",
            served.after_cancel
        ));
    }
    if matches!(call.kind, Kind::Stream | Kind::Upload) {
        if !in_order(&served.got) || served.got.len() > call.written as usize {
            bad(format!(
                "the server received {:?} of {} requests",
                served.got, call.written
            ));
        }
        if complete && served.got.len() != call.written as usize {
            bad(format!(
                "ended well, the server received {:?} of {} requests",
                served.got, call.written
            ));
        }
    }
    if complete
        && let Some(on) = &call.served_on
        && on != &served.session
    {
        bad(format!(
            "answered from session {on}, handled on {}",
            served.session
        ));
    }
    if complete
        && let (Some(before), Some(after)) = &call.sessions
        && before == after
        && before != &served.session
    {
        bad(format!(
            "made on session {before} throughout, handled on session {}",
            served.session
        ));
    }
}

/// One session's events in one log.
#[derive(Debug, Default)]
struct Life {
    created: u32,
    closing: u32,
    closed: u32,
    /// The state the session is in, as its transitions say.
    state: Option<&'static str>,
}

/// Every session's events form one walk of the graph: created once, each transition a
/// declared edge leaving the state the last one entered (so each state's hooks run once per
/// visit), starting at the role's entrypoint, closed once, and nothing after.
fn check_lifecycles(log: &Log, out: &mut Vec<String>) {
    let role = if log.client.is_some() {
        "client"
    } else {
        "server"
    };
    let entry = GRAPH
        .entrypoints
        .iter()
        .find(|e| e.role == role)
        .map(|e| e.state);
    let mut lives: BTreeMap<&str, Life> = BTreeMap::new();
    let mut bad = |why: String| out.push(format!("{}: {why}", log.name));
    for event in &log.events {
        let session = match event {
            Obs::Message { session, .. }
            | Obs::Status { session, .. }
            | Obs::Transition { session, .. } => session.as_str(),
            Obs::ProtocolError(_) => continue,
        };
        let life = lives.entry(session).or_default();
        if life.closed > 0 {
            bad(format!("session {session}: {event:?} after it closed"));
            continue;
        }
        match event {
            Obs::Status { status, .. } => match status {
                SessionStatus::Created => life.created += 1,
                SessionStatus::Closing => life.closing += 1,
                SessionStatus::Closed => life.closed += 1,
            },
            Obs::Transition {
                from,
                to,
                transition,
                ..
            } => {
                let declared = GRAPH
                    .transitions
                    .iter()
                    .any(|t| t.from == *from && t.to == *to && t.name == *transition);
                if !declared {
                    bad(format!(
                        "session {session}: {from} -{transition}-> {to} is not in the graph"
                    ));
                }
                let expected = life.state.or(entry);
                // A server resumes a session by handing it the pending connection's state:
                // the session's `NoConnection` closes and that `WaitingForHandshake` goes on.
                let adopted = log.client.is_none()
                    && life.state == Some("NoConnection")
                    && *from == "WaitingForHandshake";
                if expected != Some(*from) && !adopted {
                    bad(format!(
                        "session {session}: left {from} while in {expected:?} ({transition})"
                    ));
                }
                life.state = Some(to);
            }
            Obs::Message { .. } | Obs::ProtocolError(_) => {}
        }
    }
    for (session, life) in &lives {
        if life.created != 1 || life.closed != 1 || life.closing > 1 {
            bad(format!(
                "session {session}: created {} times, closing {} times, closed {} times",
                life.created, life.closing, life.closed
            ));
        }
    }
    if !log.closed {
        bad("never reported itself closed".into());
    }
}

/// Messages the server pushed outside calls: within a session, each arrives once, in order
/// (a prefix of what that session took), on the session it was sent on, never after its
/// session closed; on the session each client ends with, all of them.
fn check_pushes(record: &Record, out: &mut Vec<String>) {
    // (client, server process, session, push) -> ks
    let mut sent: BTreeMap<(usize, usize, &str, u64), Vec<u32>> = BTreeMap::new();
    for p in &record.pushed {
        sent.entry((p.client, p.process, p.session.as_str(), p.push))
            .or_default()
            .push(p.k);
    }
    let mut got: BTreeMap<(usize, usize, &str, u64), Vec<u32>> = BTreeMap::new();
    for log in &record.logs {
        let Some(client) = log.client else { continue };
        for event in &log.events {
            let Obs::Message { session, payload } = event else {
                continue;
            };
            match read_push(payload) {
                Some((process, push, k, sent_on)) => {
                    if &sent_on != session {
                        out.push(format!(
                            "{}: push {push}/{k} sent on session {sent_on} arrived on {session}",
                            log.name
                        ));
                    }
                    got.entry((client, process, session.as_str(), push))
                        .or_default()
                        .push(k);
                }
                None => out.push(format!("{}: stray message {payload:?}", log.name)),
            }
        }
    }
    for (key, ks) in &got {
        let taken = sent.get(key).map_or(&[][..], Vec::as_slice);
        if !taken.starts_with(ks) {
            out.push(format!(
                "{} server process {} session {} push {}: received {ks:?} of {taken:?}",
                client_id(key.0),
                key.1,
                key.2,
                key.3
            ));
        }
    }
    for (client, outcome) in record.recovery.iter().enumerate() {
        let Ok((process, last)) = outcome else {
            continue;
        };
        for (key, ks) in &sent {
            if key.0 == client && key.1 == *process && key.2 == last {
                let received = got.get(key).map_or(0, Vec::len);
                if received != ks.len() {
                    out.push(format!(
                        "{} session {last} push {}: {received} of {} delivered on a session that lived on",
                        client_id(client),
                        key.3,
                        ks.len()
                    ));
                }
            }
        }
    }
}
