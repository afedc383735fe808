#[statebound::machine(any = Any)]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut;

    pub enum Any {}
}

fn main() {}
