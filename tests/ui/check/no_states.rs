#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }
}

fn main() {}
