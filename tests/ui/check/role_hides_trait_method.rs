#[statebound::machine]
mod door {
    #[state]
    #[entry(from)]
    pub struct Shut;
}

fn main() {}
