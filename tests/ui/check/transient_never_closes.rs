#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(swing -> Swinging)]
    pub struct Shut;

    #[state(transient)]
    #[transition(sway -> Swaying)]
    pub struct Swinging;

    #[state(transient)]
    #[transition(swing -> Swinging)]
    pub struct Swaying;
}

fn main() {}
