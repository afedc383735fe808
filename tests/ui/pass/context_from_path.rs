//! A context defined outside the module, named with `context = Path`.

/// Counts what happened to the lamp.
pub struct Wiring {
    pub switched: u32,
}

#[statebound::machine(context = crate::Wiring)]
mod lamp {
    use crate::Wiring;

    #[state(exit = count)]
    #[entry(plug_in)]
    #[transition(switch_on -> On)]
    pub struct Off;

    #[state]
    #[transition(switch_off -> Off)]
    pub struct On;

    fn count(_: &mut Off, wiring: &mut Wiring) {
        wiring.switched += 1;
    }
}

fn main() {
    let off = lamp::Machine::plug_in(Wiring { switched: 0 }, lamp::Off);
    let wiring = off.switch_on(|_| lamp::On).switch_off(|_| lamp::Off).close();
    assert_eq!(wiring.switched, 1);
}
