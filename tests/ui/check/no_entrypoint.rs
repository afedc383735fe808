#[statebound::machine]
mod door {
    #[state]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;
}

fn main() {}
