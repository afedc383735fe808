include!("../fixtures/door.rs");

fn main() {
    let any = door::Machine::install(door::Door { opened: 0 }, door::Shut).into_any();
    let _open = any.open(|_| door::Open { since: 1 });
}
