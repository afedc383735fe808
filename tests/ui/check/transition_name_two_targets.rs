#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    #[transition(lock -> Locked)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;

    #[state]
    #[transition(open -> Shut)]
    pub struct Locked;
}

fn main() {}
