include!("../fixtures/door.rs");

fn main() {
    let shut = door::Machine::install(door::Door { opened: 0 }, door::Shut);
    let _ = shut.unlock(|_| door::Shut);
}
