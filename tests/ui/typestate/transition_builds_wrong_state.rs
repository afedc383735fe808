include!("../fixtures/door.rs");

fn main() {
    let shut = door::Machine::install(door::Door { opened: 0 }, door::Shut);
    let _open = shut.open(|_| door::Locked { code: 1234 });
}
