//! A machine without `#[context]`: hooks take only the state, `close` returns `()`.

use std::sync::atomic::{AtomicU32, Ordering};

static EXITS: AtomicU32 = AtomicU32::new(0);
static CLOSES: AtomicU32 = AtomicU32::new(0);

#[statebound::machine]
mod lamp {
    #[state(exit = leave_off)]
    #[entry(plug_in)]
    #[transition(switch_on -> On)]
    pub struct Off;

    #[state(close = close_on)]
    #[transition(switch_off -> Off)]
    pub struct On {
        pub watts: u32,
    }

    fn leave_off(_state: &mut Off) {
        super::EXITS.fetch_add(1, super::Ordering::SeqCst);
    }

    fn close_on(state: On) {
        super::CLOSES.fetch_add(state.watts, super::Ordering::SeqCst);
    }
}

fn main() {
    let off = lamp::Machine::plug_in(lamp::Off);
    let on = off.switch_on(|_| lamp::On { watts: 40 });
    assert_eq!(on.watts, 40);
    assert_eq!(on.name(), "On");
    let () = *on.context();
    let () = on.close();
    assert_eq!(EXITS.load(Ordering::SeqCst), 1);
    assert_eq!(CLOSES.load(Ordering::SeqCst), 40);
    assert_eq!(lamp::GRAPH.name, "lamp");
}
