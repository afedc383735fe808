#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(into -> Open)]
    #[transition(from -> Open)]
    #[transition(deref -> Open)]
    pub struct Shut;

    #[state]
    #[transition(fmt -> Shut)]
    #[transition(clone_from -> Shut)]
    pub struct Open;
}

fn main() {}
