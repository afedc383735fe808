#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    #[cfg_attr(test, transition(lock -> Locked))]
    #[cfg_attr(test, derive(Debug))]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;

    #[state]
    #[transition(unlock -> Shut)]
    pub struct Locked;
}

fn main() {}
