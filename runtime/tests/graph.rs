//! The `GRAPH` constant a machine carries, and its Mermaid and DOT renderings.

use statebound::{Entrypoint, Graph, StateInfo, Transition};

#[statebound::machine]
mod pump {
    /// Carried by every state.
    #[context]
    pub(crate) struct Meter {
        pub(crate) litres: u32,
    }

    ///
    /// Waiting for a customer.
    ///
    /// Second paragraph, not part of the summary.
    #[state(exit = leave_idle)]
    #[entry(install, reboot)]
    #[transition(lift -> Priming)]
    pub(crate) struct Idle;

    /// Priming the pump; it must go on to `Pumping` or back to `Idle`.
    #[state(transient, exit = hooks::leave_priming)]
    #[transition(primed -> Pumping)]
    #[transition(reset -> Idle)]
    pub(crate) struct Priming;

    #[state(close = super::close_pumping)]
    #[entry(resume)]
    #[transition(reset -> Idle)]
    pub(crate) struct Pumping;

    fn leave_idle(_: &mut Idle, _: &mut Meter) {}

    mod hooks {
        pub(super) fn leave_priming(_: &mut super::Priming, _: &mut super::Meter) {}
    }
}

#[allow(clippy::needless_pass_by_value)]
fn close_pumping(_: pump::Pumping, meter: &mut pump::Meter) {
    meter.litres += 1;
}

#[test]
fn graph_lists_states_entrypoints_and_transitions_in_declaration_order() {
    let expected = Graph {
        name: "pump",
        states: &[
            StateInfo {
                name: "Idle",
                doc: "Waiting for a customer.",
                exit: Some("leave_idle"),
                close: None,
                transient: false,
            },
            StateInfo {
                name: "Priming",
                doc: "Priming the pump; it must go on to `Pumping` or back to `Idle`.",
                exit: Some("hooks::leave_priming"),
                close: None,
                transient: true,
            },
            StateInfo {
                name: "Pumping",
                doc: "",
                exit: None,
                close: Some("super::close_pumping"),
                transient: false,
            },
        ],
        entrypoints: &[
            Entrypoint {
                role: "install",
                state: "Idle",
            },
            Entrypoint {
                role: "reboot",
                state: "Idle",
            },
            Entrypoint {
                role: "resume",
                state: "Pumping",
            },
        ],
        transitions: &[
            Transition {
                name: "lift",
                from: "Idle",
                to: "Priming",
            },
            Transition {
                name: "primed",
                from: "Priming",
                to: "Pumping",
            },
            Transition {
                name: "reset",
                from: "Priming",
                to: "Idle",
            },
            Transition {
                name: "reset",
                from: "Pumping",
                to: "Idle",
            },
        ],
    };
    assert_eq!(pump::GRAPH, expected);
}

#[test]
fn graph_lookups() {
    assert_eq!(
        pump::GRAPH.state("Priming").map(|s| s.transient),
        Some(true)
    );
    assert!(pump::GRAPH.state("Nope").is_none());
    let from: Vec<_> = pump::GRAPH
        .transitions_from("Priming")
        .map(|t| (t.name, t.to))
        .collect();
    assert_eq!(from, [("primed", "Pumping"), ("reset", "Idle")]);
}

#[test]
fn graph_names_match_the_running_machine() {
    let idle = pump::Machine::reboot(pump::Meter { litres: 0 }, pump::Idle);
    assert!(pump::GRAPH.state(idle.name()).is_some());
    let pumping = idle.lift(|_| pump::Priming).primed(|_| pump::Pumping);
    assert_eq!(pumping.name(), "Pumping");
    assert_eq!(pumping.handle().machine(), pump::GRAPH.name);
    assert_eq!(
        pumping.close().litres,
        1,
        "the hook at a `super::` path ran"
    );
}

#[test]
fn mermaid_rendering_is_exact() {
    assert_eq!(
        pump::GRAPH.to_mermaid(),
        "\
stateDiagram-v2
    [*] --> Idle: install
    [*] --> Idle: reboot
    [*] --> Pumping: resume
    Idle --> Priming: lift
    Priming --> Pumping: primed
    Priming --> Idle: reset
    Pumping --> Idle: reset
    note right of Idle: exit: leave_idle
    note right of Priming: exit: hooks::leave_priming, transient
    note right of Pumping: close: super::close_pumping
"
    );
}

#[test]
fn dot_rendering_is_exact() {
    assert_eq!(
        pump::GRAPH.to_dot(),
        r#"digraph "pump" {
    rankdir=LR;
    "Idle" [shape=box, label="Idle\nexit: leave_idle"];
    "Priming" [shape=box, label="Priming\nexit: hooks::leave_priming, transient"];
    "Pumping" [shape=box, label="Pumping\nclose: super::close_pumping"];
    __entry0 [shape=point];
    __entry0 -> "Idle" [label="install"];
    __entry1 [shape=point];
    __entry1 -> "Idle" [label="reboot"];
    __entry2 [shape=point];
    __entry2 -> "Pumping" [label="resume"];
    "Idle" -> "Priming" [label="lift"];
    "Priming" -> "Pumping" [label="primed"];
    "Priming" -> "Idle" [label="reset"];
    "Pumping" -> "Idle" [label="reset"];
}
"#
    );
}

#[statebound::machine(name = Bulb, any = AnyBulb)]
mod bulb {
    /**
     * Dark.
     *
     * The bulb is off.
     */
    #[state]
    #[entry(new)]
    #[transition(on -> Lit)]
    pub(crate) struct Dark;

    #[doc = "Lit.\nGlowing."]
    #[state]
    pub(crate) struct Lit;
}

#[test]
fn a_minimal_machine_renders_without_notes() {
    assert_eq!(
        bulb::GRAPH.to_mermaid(),
        "stateDiagram-v2\n    [*] --> Dark: new\n    Dark --> Lit: on\n"
    );
    let any: bulb::AnyBulb = bulb::Bulb::new(bulb::Dark).on(|_| bulb::Lit).into();
    assert_eq!(any.name(), "Lit");
}

/// `StateInfo::doc` is documented as the *first line* of the doc comment. A block doc comment
/// (or a `#[doc = "..."]` holding several lines) is one attribute whose value spans lines.
#[test]
fn doc_summary_is_the_first_line_of_a_block_doc_comment() {
    assert_eq!(bulb::GRAPH.states[0].doc, "Dark.");
    assert_eq!(bulb::GRAPH.states[1].doc, "Lit.");
}
