include!("../fixtures/door.rs");

fn main() {
    let open = door::Machine::install(door::Door { opened: 0 }, door::Shut)
        .open(|_| door::Open { since: 1 });
    let _ = open.lock(|_| door::Locked { code: 1234 });
}
