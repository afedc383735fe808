#[statebound::machine(name = Door, name = Gate)]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut;
}

fn main() {}
