#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[state(close = close_shtu)]
    #[entry(install)]
    pub struct Shut;

    fn close_shut(_state: Shut, _door: &mut Door) {}
}

fn main() {}
