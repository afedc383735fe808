#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state]
    #[transition(close -> Shut)]
    pub struct Open;
}

fn main() {}
