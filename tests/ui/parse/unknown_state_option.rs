#[statebound::machine]
mod door {
    #[state(exti = leave_shut)]
    #[entry(install)]
    pub struct Shut;

    fn leave_shut(_state: &mut Shut) {}
}

fn main() {}
