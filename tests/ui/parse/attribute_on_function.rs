#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut;

    #[transition(open -> Shut)]
    fn open() {}
}

fn main() {}
