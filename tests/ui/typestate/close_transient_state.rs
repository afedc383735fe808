#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    #[transition(swing -> Swinging)]
    pub struct Shut;

    #[state(transient)]
    #[transition(settle -> Shut)]
    pub struct Swinging;
}

fn main() {
    let swinging = door::Machine::install(door::Shut).swing(|_| door::Swinging);
    let () = swinging.close();
}
