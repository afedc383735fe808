#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(ajar -> ajar)]
    pub struct Shut;

    #[allow(non_camel_case_types)]
    #[state]
    pub struct ajar;
}

fn main() {}
