#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[state(exit = leave_shut)]
    #[entry(install)]
    pub struct Shut;

    async fn leave_shut(_state: &mut Shut, _door: &mut Door) {}
}

fn main() {}
