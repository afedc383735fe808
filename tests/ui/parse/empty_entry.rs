#[statebound::machine]
mod door {
    #[state]
    #[entry()]
    pub struct Shut;
}

fn main() {}
