//! Machines in different states held together through `AnyState`, keyed by their id.

use std::collections::HashMap;

#[statebound::machine]
mod session {
    #[context]
    pub struct Session {
        pub peer: &'static str,
    }

    #[state]
    #[entry(client)]
    #[transition(connect -> Connected)]
    pub struct Disconnected;

    #[state]
    #[transition(drop_connection -> Disconnected)]
    pub struct Connected {
        pub socket: u32,
    }
}

use session::{AnyState, Machine};

fn main() {
    let mut sessions: HashMap<statebound::MachineId, AnyState> = HashMap::new();
    for (i, peer) in ["a", "b", "c"].into_iter().enumerate() {
        let machine = Machine::client(session::Session { peer }, session::Disconnected);
        let any: AnyState = if i % 2 == 0 {
            machine.connect(|_| session::Connected { socket: 3 }).into()
        } else {
            machine.into_any()
        };
        sessions.insert(any.id(), any);
    }
    assert_eq!(sessions.len(), 3);

    let connected: Vec<&str> = {
        let mut peers: Vec<&str> = sessions
            .values()
            .filter(|s| matches!(s, AnyState::Connected(_)))
            .map(|s| s.context().peer)
            .collect();
        peers.sort_unstable();
        peers
    };
    assert_eq!(connected, ["a", "c"]);

    // Take one out, move it on, and put it back.
    let id = *sessions
        .iter()
        .find(|(_, s)| s.name() == "Disconnected")
        .map(|(id, _)| id)
        .unwrap();
    let any = sessions.remove(&id).unwrap();
    let disconnected = Machine::<session::Disconnected>::try_from(any).unwrap();
    let handle = disconnected.handle();
    let connected = disconnected.connect(|_| session::Connected { socket: 9 });
    assert!(!handle.is_live());
    assert_eq!(connected.socket, 9);
    sessions.insert(id, connected.into_any());
    assert!(sessions.values().all(|s| s.name() == "Connected"));

    // Wrong-state conversions hand the machine back.
    let any = sessions.remove(&id).unwrap();
    let Err(any) = Machine::<session::Disconnected>::try_from(any) else {
        panic!("a connected session converted to `Machine<Disconnected>`");
    };
    assert_eq!(any.id(), id);

    let peers: Vec<&str> = sessions.into_values().map(|s| s.close().peer).collect();
    assert_eq!(peers.len(), 2);
}
