//! The traits generated code implements to describe states and edges. Not public API.
//!
//! Transition methods are generic over the state: `open` exists on every machine type whose
//! state has an [`Edge`] named `open`, through an impl bounded on that edge. A state without the
//! edge does not satisfy the bound, and the compiler reports the unmet bound with the message
//! of the [`Edge`] trait, which names the state, its transitions and where the name does lead
//! from. Because the bound sits on the impl, a method a state cannot call is also not offered
//! as a suggestion for a misspelt one.
//!
//! The message can only show types, so transition names are types too: generated code declares
//! one empty enum per transition name (named exactly like the transition) and lists a state's
//! transitions as a tuple of them ([`State::Transitions`]).
//!
//! Privacy: an impl of a public trait may not name, in an associated type, a type less visible
//! than the impl's own header. So the context is a parameter of [`State`] rather than an
//! associated type, and [`Edge`]'s header carries the targets of the transition as well as its
//! sources: whatever the visibility of each state and of the context, no impl leaks one of them.

/// One state of a machine whose context is `C`: its name, its hooks and (for error messages)
/// its transitions.
///
/// The hooks are `None` when the state declares none, so that a state without hooks has no
/// hook function to compile.
pub trait State<C>: Sized {
    /// A tuple of the marker types of the state's transitions, the one marker, or `()` when it
    /// has none.
    type Transitions;
    /// Name of the state.
    const NAME: &'static str;

    /// The exit hook: runs when a transition leaves the state.
    const EXIT: Option<fn(&mut Self, &mut C)> = None;
    /// The close hook: runs when the machine is closed (or dropped) in the state; without one,
    /// the state's data is dropped.
    const CLOSE: Option<fn(Self, &mut C)> = None;
}

/// The transition `N` from state `S`, implemented once per edge on the machine type in that
/// state. `F` and `T` list the states transitions named `N` leave from and lead to, and `L` the
/// transitions of `S`, for the error message.
#[diagnostic::on_unimplemented(
    message = "no transition `{N}` from state `{S}`",
    label = "`{S}` has no transition `{N}`",
    note = "transitions from `{S}`: {L}",
    note = "`{N}` leaves from {F} and leads to {T}"
)]
pub trait Edge<N, S, F, T, L> {
    /// The state the transition leads to.
    type To;
}

/// Where the transition `N` leads from state `S`.
pub type To<M, N, S, F, T, L> = <M as Edge<N, S, F, T, L>>::To;

/// Implemented on the machine type in every state that may be closed (all but the transient
/// ones). `L` lists the transitions of `S`, for the error message.
#[diagnostic::on_unimplemented(
    message = "state `{S}` is transient and cannot be closed",
    label = "`{S}` must be left by a transition before the machine closes",
    note = "transitions from `{S}`: {L}"
)]
pub trait Close<S, L> {}

/// Not implemented by statebound: it bounds the `clone` every machine type declares, so that
/// `machine.clone()` is an error instead of a clone of the state's data through `Deref`.
#[diagnostic::on_unimplemented(
    message = "a machine cannot be cloned",
    label = "a machine is one live instance: its hooks run once and its handles name one state",
    note = "to clone the state's data, write `{S}::clone(&machine)`"
)]
pub trait CloneMachine<S> {
    /// What `clone` returns, for whoever implements this.
    #[must_use]
    fn clone_machine(&self) -> Self;
}
