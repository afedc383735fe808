#[statebound::machine]
struct Door;

fn main() {}
