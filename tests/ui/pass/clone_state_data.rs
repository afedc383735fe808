//! A machine cannot be cloned (`typestate/clone_machine.rs`), but the data of its state can be,
//! through the state's own `Clone`.

#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[derive(Clone, Debug, PartialEq)]
    pub struct Shut {
        pub code: u32,
    }
}

fn main() {
    let shut = door::Machine::install(door::Shut { code: 7 });
    let data: door::Shut = door::Shut::clone(&shut);
    let again: door::Shut = (*shut).clone();
    assert_eq!(data, again);
    assert_eq!(shut.code, 7);
    drop(shut.close());
}
