#[statebound::machine(nmae = Door)]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut;
}

fn main() {}
