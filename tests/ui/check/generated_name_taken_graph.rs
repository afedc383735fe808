#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut;

    pub const GRAPH: u32 = 0;
}

fn main() {}
