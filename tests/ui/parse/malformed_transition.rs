#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open => Open)]
    pub struct Shut;

    #[state]
    pub struct Open;
}

fn main() {}
