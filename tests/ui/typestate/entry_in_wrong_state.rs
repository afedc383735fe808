include!("../fixtures/door.rs");

fn main() {
    let _open = door::Machine::install(door::Door { opened: 0 }, door::Open { since: 1 });
}
