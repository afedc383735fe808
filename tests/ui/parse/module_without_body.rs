#[statebound::machine]
mod door;

fn main() {}
