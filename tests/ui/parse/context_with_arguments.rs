#[statebound::machine]
mod door {
    #[context(shared)]
    pub struct Door {
        pub opened: u32,
    }

    #[state]
    #[entry(install)]
    pub struct Shut;
}

fn main() {}
