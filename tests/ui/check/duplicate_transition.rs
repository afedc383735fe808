#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(open -> Open)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;
}

fn main() {}
