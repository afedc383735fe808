pub struct Wiring;

#[statebound::machine(context = crate::Wiring)]
mod lamp {
    #[context]
    pub struct Door;

    #[state]
    #[entry(plug_in)]
    pub struct Off;
}

fn main() {}
