#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open -> Opne)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;
}

fn main() {
    let shut: door::Machine<door::Shut> = door::Machine::install(door::Shut);
    let open = shut.open(|_| door::Open);
    let _any: door::AnyState = open.into_any();
    let _ = door::GRAPH.to_mermaid();
}
