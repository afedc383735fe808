#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[state(exit = count_opening)]
    #[entry(install)]
    pub struct Shut;
}

fn main() {}
