//! The checked machine: names resolved to indices, every graph rule satisfied. Generation reads
//! only this.

use proc_macro2::Ident;
use syn::{ItemMod, Path};

pub(crate) struct Machine {
    /// The module name, which is also the machine's name.
    pub(crate) name: Ident,
    /// The machine type (`Machine` unless renamed).
    pub(crate) ty: Ident,
    /// The all-states enum (`AnyState` unless renamed).
    pub(crate) any: Ident,
    /// The machine type's state parameter in generated impls: `S`, unless the module or the
    /// graph already gives that name a meaning there.
    pub(crate) param: Ident,
    /// The module as written, statebound's attributes removed.
    pub(crate) module: ItemMod,
    /// The path of the runtime crate (`::statebound` unless given with `crate = ..`).
    pub(crate) krate: Path,
    pub(crate) context: Option<Path>,
    pub(crate) states: Vec<State>,
    pub(crate) entrypoints: Vec<Entrypoint>,
    /// One per (source, name) pair, in declaration order.
    pub(crate) transitions: Vec<Transition>,
}

pub(crate) struct State {
    pub(crate) ident: Ident,
    pub(crate) doc: String,
    pub(crate) exit: Option<Path>,
    pub(crate) close: Option<Path>,
    pub(crate) transient: bool,
}

pub(crate) struct Entrypoint {
    pub(crate) role: Ident,
    pub(crate) state: usize,
}

pub(crate) struct Transition {
    pub(crate) name: Ident,
    pub(crate) from: usize,
    pub(crate) to: usize,
}

impl Machine {
    /// Transition names in first-declared order, each with the transitions of that name.
    pub(crate) fn transition_names(&self) -> Vec<(&Ident, Vec<&Transition>)> {
        let mut names: Vec<(&Ident, Vec<&Transition>)> = Vec::new();
        for t in &self.transitions {
            match names.iter_mut().find(|(n, _)| **n == t.name) {
                Some((_, edges)) => edges.push(t),
                None => names.push((&t.name, vec![t])),
            }
        }
        names
    }

    pub(crate) fn transitions_from(&self, state: usize) -> impl Iterator<Item = &Transition> {
        self.transitions.iter().filter(move |t| t.from == state)
    }
}
