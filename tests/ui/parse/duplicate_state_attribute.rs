#[statebound::machine]
mod door {
    #[state]
    #[state]
    #[entry(install)]
    pub struct Shut;
}

fn main() {}
