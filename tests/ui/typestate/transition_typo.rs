// `lcck` is one edit from `lock`, which `Shut` has, and from `lack`, which only `Open` has: the
// suggestion is the transition `Shut` can take.
#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(lock -> Locked)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state]
    #[transition(lack -> Locked)]
    pub struct Open;

    #[state]
    #[transition(unlock -> Shut)]
    pub struct Locked;
}

fn main() {
    let _ = door::Machine::install(door::Shut).lcck(|_| door::Locked);
}
