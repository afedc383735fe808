#[statebound::machine]
mod door {
    #[state]
    #[entry(handle)]
    pub struct Shut;
}

fn main() {}
