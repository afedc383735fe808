#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(install_observed -> Open)]
    pub struct Shut;

    #[state]
    #[entry(repair, repair_observed)]
    pub struct Open;
}

fn main() {}
