//! The model moves through the session graph that `statebound-river` declares, by name.
//!
//! Every state the model holds is an index into [`GRAPH`]'s states, and every move is looked
//! up in [`GRAPH`]'s transitions by its source state and name: a transition the graph does not
//! declare panics, so the model cannot drift from the declared machine. Each move taken is
//! recorded, so a test can tell which declared edges the model exercises.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use statebound::Transition;
use statebound_river::graph::session::GRAPH;

/// Transitions of [`GRAPH`] the model does not take, each with the reason. Empty: the model
/// takes every declared edge (a test checks that).
pub const OUT_OF_SCOPE: &[(&str, &str)] = &[];

/// A state of [`GRAPH`], by index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node(u8);

impl Node {
    /// The state named `name`.
    ///
    /// # Panics
    ///
    /// If [`GRAPH`] has no such state.
    pub fn named(name: &str) -> Node {
        let index = GRAPH
            .states
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("the session graph has no state `{name}`"));
        Node(u8::try_from(index).expect("the session graph has few states"))
    }

    /// The state a role's entrypoint enters.
    ///
    /// # Panics
    ///
    /// If [`GRAPH`] has no entrypoint for `role`.
    pub fn entry(role: &str) -> Node {
        let entry = GRAPH
            .entrypoints
            .iter()
            .find(|e| e.role == role)
            .unwrap_or_else(|| panic!("the session graph has no `{role}` entrypoint"));
        Node::named(entry.state)
    }

    /// The state's name.
    pub fn name(self) -> &'static str {
        GRAPH.states[usize::from(self.0)].name
    }

    /// Whether this is the state named `name`.
    pub fn is(self, name: &str) -> bool {
        self.name() == name
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Records which of [`GRAPH`]'s transitions the model has taken.
#[derive(Debug, Default)]
pub struct Coverage {
    taken: Mutex<BTreeSet<usize>>,
}

impl Coverage {
    /// Takes the transition `name` out of `from`, and returns the state it enters.
    ///
    /// # Panics
    ///
    /// If [`GRAPH`] declares no transition `name` out of `from`: the model asked for a move the
    /// real machine cannot make.
    pub fn step(&self, from: Node, name: &str) -> Node {
        let index = GRAPH
            .transitions
            .iter()
            .position(|t| t.from == from.name() && t.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "the session graph has no transition `{name}` out of `{}`",
                    from.name()
                )
            });
        self.taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(index);
        Node::named(GRAPH.transitions[index].to)
    }

    /// The transitions taken so far, in declaration order.
    pub fn taken(&self) -> Vec<&'static Transition> {
        self.taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|&i| &GRAPH.transitions[i])
            .collect()
    }
}
