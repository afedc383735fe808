include!("../fixtures/door.rs");

fn main() {
    let shut = door::Machine::install(door::Door { opened: 0 }, door::Shut);
    let door = shut.close();
    assert_eq!(door.opened, 0);
    let _open = shut.open(|_| door::Open { since: 1 });
}
