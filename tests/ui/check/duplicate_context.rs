#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[context]
    pub struct Frame {
        pub hinges: u32,
    }

    #[state]
    #[entry(install)]
    pub struct Shut;
}

fn main() {}
