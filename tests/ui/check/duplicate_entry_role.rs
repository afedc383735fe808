#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state]
    #[entry(install)]
    #[transition(shut -> Shut)]
    pub struct Open;
}

fn main() {}
