//! One transition name leading to different states from different sources: TCP's `rcv_fin`
//! leaves `Established` for `CloseWait` and `FinWait1` for `Closing`.

#[statebound::machine]
mod tcp {
    #[state]
    #[entry(open)]
    #[transition(rcv_fin -> CloseWait)]
    #[transition(app_close -> FinWait1)]
    pub struct Established;

    #[state]
    #[transition(rcv_fin -> Closing)]
    pub struct FinWait1;

    #[state]
    pub struct CloseWait;

    #[state]
    pub struct Closing;
}

fn main() {
    let passive: tcp::Machine<tcp::CloseWait> =
        tcp::Machine::open(tcp::Established).rcv_fin(|_| tcp::CloseWait);
    assert_eq!(passive.name(), "CloseWait");
    let simultaneous: tcp::Machine<tcp::Closing> = tcp::Machine::open(tcp::Established)
        .app_close(|_| tcp::FinWait1)
        .rcv_fin(|_| tcp::Closing);
    assert_eq!(simultaneous.name(), "Closing");
    let edges: Vec<(&str, &str)> = tcp::GRAPH
        .transitions
        .iter()
        .filter(|t| t.name == "rcv_fin")
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(edges, [("Established", "CloseWait"), ("FinWait1", "Closing")]);
}
