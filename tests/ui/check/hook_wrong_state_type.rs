#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[state(exit = leave_open)]
    #[entry(install)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;

    fn leave_open(_state: &mut Open, _door: &mut Door) {}
}

fn main() {}
