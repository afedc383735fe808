#[statebound::machine]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    #[transition(lock -> Locked)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open {
        pub since: u64,
    }

    #[state]
    #[transition(unlock -> Shut)]
    pub struct Locked {
        pub code: u32,
    }
}

fn main() {
    let open = door::Machine::install(door::Door { opened: 0 }, door::Shut)
        .open(|_| door::Open { since: 1 });
    let _ = open.lock(|_| door::Locked { code: 1234 });
}
