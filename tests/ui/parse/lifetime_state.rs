#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open<'a> {
        pub by: &'a str,
    }
}

fn main() {
    // Uses of the machine add no errors of their own.
    let _ = door::Machine::install(door::Shut).open(|_| door::Open { by: "me" });
}
