#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(lock -> Locked)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;
}

fn main() {}
