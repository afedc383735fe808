#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[derive(Clone)]
    pub struct Shut;
}

fn main() {
    let shut = door::Machine::install(door::Shut);
    let _twin = shut.clone();
}
