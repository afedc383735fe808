#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(clone -> Open)]
    pub struct Shut;

    #[state]
    pub struct Open;
}

fn main() {}
