//! What the user wrote, as syntax: every identifier and span kept, nothing resolved.

use proc_macro2::Span;
use syn::{Ident, ItemMod, Path, Signature};

/// Arguments of `#[machine(...)]`.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = Ident`: the machine type (default `Machine`).
    pub(crate) name: Option<Ident>,
    /// `any = Ident`: the all-states enum (default `AnyState`).
    pub(crate) any: Option<Ident>,
    /// `context = Path`: a context type defined outside the module.
    pub(crate) context: Option<Path>,
    /// `crate = Path`: where generated code finds the runtime (default `::statebound`).
    pub(crate) krate: Option<Path>,
}

impl Args {
    /// The runtime crate's path: the `crate = ..` argument, or `::statebound`.
    pub(crate) fn runtime(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::statebound))
    }
}

/// The annotated module.
pub(crate) struct Machine {
    pub(crate) args: Args,
    /// The module as written, with statebound's attributes removed from its items.
    pub(crate) module: ItemMod,
    pub(crate) context: Vec<Context>,
    pub(crate) states: Vec<State>,
    /// Every free function in the module, for hook lookup.
    pub(crate) fns: Vec<Signature>,
    /// Every item identifier in the module, for name clashes with generated items.
    pub(crate) item_idents: Vec<Ident>,
}

/// The context: a struct marked `#[context]`, or the `context = Path` argument.
pub(crate) struct Context {
    /// The type's name (the path's last segment).
    pub(crate) ident: Ident,
    /// The type as generated code names it.
    pub(crate) path: Path,
    /// Span of the `context` attribute or argument.
    pub(crate) attr: Span,
}

/// A struct marked `#[state]`.
pub(crate) struct State {
    pub(crate) ident: Ident,
    /// Whether the struct has generic or lifetime parameters, or is `#[cfg]`-gated (errors
    /// reported while parsing); the skeleton leaves such a state out, since it cannot name it
    /// (without arguments, or at all once `cfg` removed it).
    pub(crate) unnameable: bool,
    /// First line of the doc comment.
    pub(crate) doc: String,
    pub(crate) exit: Option<Path>,
    pub(crate) close: Option<Path>,
    /// Span of `transient`, when given.
    pub(crate) transient: Option<Span>,
    pub(crate) entries: Vec<Ident>,
    pub(crate) transitions: Vec<Transition>,
}

/// `#[transition(name -> Target)]`.
pub(crate) struct Transition {
    pub(crate) name: Ident,
    pub(crate) target: Ident,
}
