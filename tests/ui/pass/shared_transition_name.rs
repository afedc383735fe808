//! Several states may share a transition name as long as it leads to one target.

#[statebound::machine]
mod conn {
    #[state]
    #[entry(client)]
    #[transition(connect -> Connecting)]
    pub struct Idle;

    #[state]
    #[transition(established -> Connected)]
    #[transition(fail -> Idle)]
    pub struct Connecting;

    #[state]
    #[transition(fail -> Idle)]
    pub struct Connected;
}

fn main() {
    let idle = conn::Machine::client(conn::Idle);
    let connecting = idle.connect(|_| conn::Connecting);
    let idle = connecting.fail(|_| conn::Idle);
    let connected = idle
        .connect(|_| conn::Connecting)
        .established(|_| conn::Connected);
    let idle = connected.fail(|_| conn::Idle);
    assert_eq!(idle.name(), "Idle");

    let fails: Vec<(&str, &str)> = conn::GRAPH
        .transitions
        .iter()
        .filter(|t| t.name == "fail")
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(fails, [("Connecting", "Idle"), ("Connected", "Idle")]);
}
