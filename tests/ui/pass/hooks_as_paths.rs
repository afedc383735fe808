//! Hooks given as paths are not looked up in the module: the compiler checks them where they
//! are called.

use std::sync::Mutex;

static LOG: Mutex<Vec<&str>> = Mutex::new(Vec::new());

mod hooks {
    pub fn leave_shut(_state: &mut super::door::Shut, door: &mut super::door::Door) {
        door.opened += 1;
        super::LOG.lock().unwrap().push("exit Shut");
    }

    pub fn close_open(state: super::door::Open, door: &mut super::door::Door) {
        door.opened += 100;
        assert_eq!(state.since, 7);
        super::LOG.lock().unwrap().push("close Open");
    }
}

#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[state(exit = super::hooks::leave_shut)]
    #[entry(install)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state(close = crate::hooks::close_open, exit = self::inner::leave_open)]
    #[transition(shut -> Shut)]
    pub struct Open {
        pub since: u64,
    }

    mod inner {
        pub(super) fn leave_open(_state: &mut super::Open, _door: &mut super::Door) {
            crate::LOG.lock().unwrap().push("exit Open");
        }
    }
}

fn main() {
    let shut = door::Machine::install(door::Door { opened: 0 }, door::Shut);
    let open = shut.open(|_| door::Open { since: 7 });
    let shut = open.shut(|_| door::Shut);
    let open = shut.open(|_| door::Open { since: 7 });
    assert_eq!(open.close().opened, 102);
    assert_eq!(
        *LOG.lock().unwrap(),
        ["exit Shut", "exit Open", "exit Shut", "close Open"]
    );
    assert_eq!(door::GRAPH.states[0].exit, Some("super::hooks::leave_shut"));
    assert_eq!(
        door::GRAPH.states[1].close,
        Some("crate::hooks::close_open")
    );
}
