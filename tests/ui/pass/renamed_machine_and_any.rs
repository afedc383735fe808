//! `name` and `any` rename the machine type and the all-states enum; the defaults are free
//! for the user's own items.

#[statebound::machine(name = Gate, any = AnyGate)]
mod gate {
    #[context]
    pub struct Counter {
        pub passes: u32,
    }

    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    pub struct Closed;

    #[state]
    #[transition(close_gate -> Closed)]
    pub struct Open;

    /// Not generated: the machine type is `Gate`, so this name is the user's.
    pub struct Machine;

    /// Not generated either: the enum is `AnyGate`.
    pub enum AnyState {}
}

fn main() {
    let _mine = gate::Machine;
    let gate: gate::Gate<gate::Closed> =
        gate::Gate::install(gate::Counter { passes: 0 }, gate::Closed);
    let mut open: gate::Gate<gate::Open> = gate.open(|_| gate::Open);
    open.context_mut().passes += 1;
    let any: gate::AnyGate = open.into_any();
    assert_eq!(any.name(), "Open");
    let gate::AnyGate::Open(open) = any else {
        panic!("expected the gate to be open");
    };
    let closed = open.close_gate(|_| gate::Closed);
    assert_eq!(closed.close().passes, 1);
}
