#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[state(close = close_shut)]
    #[entry(install)]
    pub struct Shut;

    fn close_shut(_state: Shut, door: &mut Door) -> u32 {
        door.opened
    }
}

fn main() {}
