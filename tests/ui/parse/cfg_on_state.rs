#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[cfg(test)]
    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;
}

fn main() {
    // Uses of the machine add no errors of their own.
    let _ = door::Machine::install(door::Shut);
}
