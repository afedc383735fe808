include!("../fixtures/door.rs");

fn forge(live: statebound::__private::Live<door::Open, door::Door>) -> door::Machine<door::Open> {
    door::Machine { __live: live }
}

fn main() {
    let _ = forge;
}
