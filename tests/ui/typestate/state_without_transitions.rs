#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(break_down -> Broken)]
    pub struct Shut;

    #[state]
    pub struct Broken;
}

fn main() {
    let broken = door::Machine::install(door::Shut).break_down(|_| door::Broken);
    let _ = broken.break_down(|_| door::Broken);
}
