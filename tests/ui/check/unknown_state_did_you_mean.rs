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

fn main() {}
