#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut;

    pub struct Machine;
}

fn main() {}
