#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut;

    #[transition(shut -> Shut)]
    pub struct Open;
}

fn main() {}
