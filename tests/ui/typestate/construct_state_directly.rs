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

fn forge(live: statebound::__private::Live<door::Open, door::Door>) -> door::Machine<door::Open> {
    door::Machine { __live: live }
}

fn main() {
    let _ = forge;
}
