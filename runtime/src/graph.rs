//! The graph constant every machine carries, and its renderings as Mermaid and DOT.

use core::fmt::Write as _;

/// A machine's declared graph: states, entrypoints, transitions and hooks.
///
/// The macro emits one as the constant `GRAPH` in the annotated module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Graph {
    /// Name of the machine (the annotated module).
    pub name: &'static str,
    /// States, in declaration order.
    pub states: &'static [StateInfo],
    /// Entrypoints, in declaration order.
    pub entrypoints: &'static [Entrypoint],
    /// Transitions, one per (source, name) pair, in declaration order.
    pub transitions: &'static [Transition],
}

/// One state of a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateInfo {
    /// The state's type name.
    pub name: &'static str,
    /// First line of the state's doc comment, or `""`.
    pub doc: &'static str,
    /// Path of the exit hook, as written, if the state has one.
    pub exit: Option<&'static str>,
    /// Path of the close hook, as written, if the state has one.
    pub close: Option<&'static str>,
    /// Whether the state must be left by a transition (it has no `close` method).
    pub transient: bool,
}

/// One entrypoint of a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entrypoint {
    /// The role, which is also the constructor's name.
    pub role: &'static str,
    /// The state the machine starts in.
    pub state: &'static str,
}

/// One edge of a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The transition's name, which is also its method's name.
    pub name: &'static str,
    /// Source state.
    pub from: &'static str,
    /// Target state.
    pub to: &'static str,
}

impl Graph {
    /// Looks a state up by name.
    pub fn state(&self, name: &str) -> Option<&'static StateInfo> {
        self.states.iter().find(|s| s.name == name)
    }

    /// The transitions leaving `state`, in declaration order.
    pub fn transitions_from<'a>(
        &'a self,
        state: &'a str,
    ) -> impl Iterator<Item = &'static Transition> + 'a {
        self.transitions.iter().filter(move |t| t.from == state)
    }

    /// Renders the graph as a Mermaid `stateDiagram-v2`.
    ///
    /// Entrypoints are edges from `[*]` labelled with their role; transitions are labelled with
    /// their name; a state's hooks become a note beside it.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("stateDiagram-v2\n");
        for entry in self.entrypoints {
            let _ = writeln!(out, "    [*] --> {}: {}", entry.state, entry.role);
        }
        for t in self.transitions {
            let _ = writeln!(out, "    {} --> {}: {}", t.from, t.to, t.name);
        }
        for state in self.states {
            let hooks = hook_summary(state);
            if !hooks.is_empty() {
                let _ = writeln!(out, "    note right of {}: {}", state.name, hooks);
            }
        }
        out
    }

    /// Renders the graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph {} {{", dot_id(self.name));
        let _ = writeln!(out, "    rankdir=LR;");
        for state in self.states {
            let hooks = hook_summary(state);
            let label = if hooks.is_empty() {
                state.name.to_owned()
            } else {
                format!("{}\\n{}", state.name, hooks)
            };
            let _ = writeln!(
                out,
                "    {} [shape=box, label={}];",
                dot_id(state.name),
                dot_id(&label)
            );
        }
        for (i, entry) in self.entrypoints.iter().enumerate() {
            let _ = writeln!(out, "    __entry{i} [shape=point];");
            let _ = writeln!(
                out,
                "    __entry{i} -> {} [label={}];",
                dot_id(entry.state),
                dot_id(entry.role)
            );
        }
        for t in self.transitions {
            let _ = writeln!(
                out,
                "    {} -> {} [label={}];",
                dot_id(t.from),
                dot_id(t.to),
                dot_id(t.name)
            );
        }
        out.push_str("}\n");
        out
    }
}

/// Compact constructors for the `GRAPH` constant generated code writes; a hook path of `""`
/// means the state has no such hook.
pub(crate) mod build {
    use super::{Entrypoint, StateInfo, Transition};

    /// A [`StateInfo`].
    pub const fn state_info(
        name: &'static str,
        doc: &'static str,
        exit: &'static str,
        close: &'static str,
        transient: bool,
    ) -> StateInfo {
        StateInfo {
            name,
            doc,
            exit: hook(exit),
            close: hook(close),
            transient,
        }
    }

    const fn hook(path: &'static str) -> Option<&'static str> {
        if path.is_empty() { None } else { Some(path) }
    }

    /// An [`Entrypoint`].
    pub const fn entrypoint(role: &'static str, state: &'static str) -> Entrypoint {
        Entrypoint { role, state }
    }

    /// A [`Transition`].
    pub const fn edge(name: &'static str, from: &'static str, to: &'static str) -> Transition {
        Transition { name, from, to }
    }
}

fn hook_summary(state: &StateInfo) -> String {
    let mut parts = Vec::new();
    if let Some(exit) = state.exit {
        parts.push(format!("exit: {exit}"));
    }
    if let Some(close) = state.close {
        parts.push(format!("close: {close}"));
    }
    if state.transient {
        parts.push("transient".to_owned());
    }
    parts.join(", ")
}

/// Quotes `s` as a DOT string id.
fn dot_id(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Graph = Graph {
        name: "door",
        states: &[
            StateInfo {
                name: "Shut",
                doc: "",
                exit: Some("leave_shut"),
                close: None,
                transient: false,
            },
            StateInfo {
                name: "Ajar",
                doc: "",
                exit: None,
                close: None,
                transient: false,
            },
        ],
        entrypoints: &[Entrypoint {
            role: "build",
            state: "Shut",
        }],
        transitions: &[
            Transition {
                name: "open",
                from: "Shut",
                to: "Ajar",
            },
            Transition {
                name: "shut",
                from: "Ajar",
                to: "Shut",
            },
        ],
    };

    #[test]
    fn mermaid() {
        assert_eq!(
            G.to_mermaid(),
            "stateDiagram-v2\n    [*] --> Shut: build\n    Shut --> Ajar: open\n    Ajar --> Shut: shut\n    note right of Shut: exit: leave_shut\n"
        );
    }

    #[test]
    fn dot() {
        let dot = G.to_dot();
        assert!(dot.starts_with("digraph \"door\" {\n"), "{dot}");
        assert!(
            dot.contains("    \"Shut\" -> \"Ajar\" [label=\"open\"];\n"),
            "{dot}"
        );
        assert!(
            dot.contains("    __entry0 -> \"Shut\" [label=\"build\"];\n"),
            "{dot}"
        );
        assert!(dot.contains("label=\"Shut\\nexit: leave_shut\""), "{dot}");
        assert!(dot.ends_with("}\n"));
    }

    #[test]
    fn the_compact_constructors_build_the_same_graph() {
        const BUILT: Graph = Graph {
            name: "door",
            states: &[
                build::state_info("Shut", "", "leave_shut", "", false),
                build::state_info("Ajar", "", "", "", false),
            ],
            entrypoints: &[build::entrypoint("build", "Shut")],
            transitions: &[
                build::edge("open", "Shut", "Ajar"),
                build::edge("shut", "Ajar", "Shut"),
            ],
        };
        assert_eq!(BUILT, G);
        assert_eq!(
            build::state_info("X", "doc", "", "forget", true).close,
            Some("forget")
        );
    }

    #[test]
    fn lookups() {
        assert_eq!(G.state("Ajar").map(|s| s.name), Some("Ajar"));
        assert!(G.state("Nope").is_none());
        let from: Vec<_> = G.transitions_from("Shut").map(|t| t.name).collect();
        assert_eq!(from, ["open"]);
    }
}
