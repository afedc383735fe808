//! Holding "whichever state a machine is in now" in one place, and advancing it there.

use core::any::Any;
use core::fmt;

use crate::handle::Handle;
use crate::live::Core;

/// The all-states enum of a machine whose context is `C`, as `#[machine]` generates it
/// (`AnyState` unless renamed with `any = ..`): what [`Slot`] needs to reach the current state.
/// Only generated code implements it; the enum's own methods (`name`, `handle`, `is_current`,
/// `context`, `close`, ..) are the ones to call.
///
/// The context is a parameter, not an associated type, so that the impl is no more visible
/// than the context: an enum may be `pub` while its context is private to the crate.
pub trait AnyMachine<C>: Sized {
    /// Not public API: the context and bookkeeping of the current state, whichever it is.
    #[doc(hidden)]
    fn __core(&self) -> &Core<C>;

    /// Not public API: the same, mutably.
    #[doc(hidden)]
    fn __core_mut(&mut self) -> &mut Core<C>;

    /// Not public API: closes the machine in the current state and returns the context.
    #[doc(hidden)]
    fn __close(self) -> C;
}

/// A machine held in place (a struct field, a map value) while its state changes, or nothing
/// once it has ended.
///
/// A transition consumes the machine and returns one of another type, so it cannot run on a
/// value behind `&mut`. [`Slot::advance`] does it in one call: when the slot holds the state
/// that the closure takes, it moves the machine out, runs the closure and stores what it
/// returns; otherwise it leaves the slot as it was and returns `false`. There is nothing to
/// unwrap and no state the slot can be caught in: if the closure panics, the machine it was
/// given is dropped while unwinding, which closes it (its close hook runs), and the slot is
/// empty, as after [`Slot::close`].
///
/// ```
/// use statebound::Slot;
///
/// #[statebound::machine]
/// mod lamp {
///     #[state]
///     #[entry(install)]
///     #[transition(switch_on -> On)]
///     pub struct Off;
///
///     #[state]
///     #[transition(switch_off -> Off)]
///     pub struct On;
/// }
///
/// use lamp::{AnyState, Machine, Off, On};
///
/// let mut slot: Slot<AnyState> = Slot::new(Machine::install(Off));
/// let off = slot.handle().unwrap();
/// assert!(slot.advance(|m: Machine<Off>| m.switch_on(|_| On)));
/// assert_eq!(slot.name(), Some("On"));
/// // Not in `Off` any more: nothing happens.
/// assert!(!slot.advance(|m: Machine<Off>| m.switch_on(|_| On)));
/// // The handle minted in `Off` belongs to a state that was left.
/// assert!(!slot.is_current(&off));
/// assert!(slot.close().is_some());
/// assert!(slot.is_empty());
/// ```
pub struct Slot<A> {
    current: Option<A>,
}

impl<A> Slot<A> {
    /// A slot holding `machine` (a machine in any state, or the all-states enum).
    pub fn new(machine: impl Into<A>) -> Self {
        Slot {
            current: Some(machine.into()),
        }
    }

    /// A slot holding nothing.
    pub const fn empty() -> Self {
        Slot { current: None }
    }

    /// Whether the slot holds nothing (the machine was closed, taken, or never put in).
    pub fn is_empty(&self) -> bool {
        self.current.is_none()
    }

    /// The machine, if the slot holds one.
    pub fn get(&self) -> Option<&A> {
        self.current.as_ref()
    }

    /// The machine, mutably, if the slot holds one.
    pub fn get_mut(&mut self) -> Option<&mut A> {
        self.current.as_mut()
    }

    /// Takes the machine out, leaving the slot empty.
    pub fn take(&mut self) -> Option<A> {
        self.current.take()
    }

    /// Puts `machine` in and returns what the slot held before.
    pub fn replace(&mut self, machine: impl Into<A>) -> Option<A> {
        self.current.replace(machine.into())
    }

    /// The machine, if the slot holds one.
    pub fn into_inner(self) -> Option<A> {
        self.current
    }

    /// Advances the machine if it is in the state `step` takes: moves it out as that state's
    /// machine type `M`, calls `step`, and stores the machine `step` returns (in any state).
    /// Returns whether `step` ran; when the slot holds another state or nothing, it is left as
    /// it was.
    ///
    /// The closure's parameter type says which state it is for:
    /// `slot.advance(|m: Machine<Connecting>| m.connected(|c| Ready { conn: c.conn }))`.
    pub fn advance<M, N>(&mut self, step: impl FnOnce(M) -> N) -> bool
    where
        M: TryFrom<A, Error = A>,
        N: Into<A>,
    {
        let Some(any) = self.current.take() else {
            return false;
        };
        match M::try_from(any) {
            Ok(machine) => {
                self.current = Some(step(machine).into());
                true
            }
            Err(any) => {
                self.current = Some(any);
                false
            }
        }
    }

    /// Replaces the machine with what `step` makes of it, whatever its state: for steps that
    /// match on the state themselves. Returns whether `step` ran (it does unless the slot is
    /// empty).
    pub fn replace_with(&mut self, step: impl FnOnce(A) -> A) -> bool {
        match self.current.take() {
            Some(any) => {
                self.current = Some(step(any));
                true
            }
            None => false,
        }
    }
}

/// What needs to reach the current state. The context type `C` is the machine's (there is one
/// `AnyMachine` impl per enum, so it is inferred).
impl<A> Slot<A> {
    /// The name of the current state, unless the slot is empty.
    pub fn name<C>(&self) -> Option<&'static str>
    where
        A: AnyMachine<C>,
    {
        self.current.as_ref().map(|a| a.__core().name())
    }

    /// A handle on the current state, unless the slot is empty.
    pub fn handle<C>(&self) -> Option<Handle>
    where
        A: AnyMachine<C>,
    {
        self.current.as_ref().map(|a| a.__core().handle())
    }

    /// Whether `handle` was minted by the state the slot holds now. Events that carry the
    /// handle of the state they were made for (a timer, a finished task, a reply) are current
    /// exactly when this holds; any other event is from the past and can be dropped.
    pub fn is_current<C>(&self, handle: &Handle) -> bool
    where
        A: AnyMachine<C>,
    {
        self.current
            .as_ref()
            .is_some_and(|a| a.__core().owns(handle))
    }

    /// The context, unless the slot is empty.
    pub fn context<C>(&self) -> Option<&C>
    where
        A: AnyMachine<C>,
    {
        self.current.as_ref().map(|a| a.__core().context())
    }

    /// The context, mutably, unless the slot is empty.
    pub fn context_mut<C>(&mut self) -> Option<&mut C>
    where
        A: AnyMachine<C>,
    {
        self.current.as_mut().map(|a| a.__core_mut().context_mut())
    }

    /// Closes the machine, if the slot holds one, and returns its context; the slot is empty
    /// afterwards. Closing an empty slot does nothing.
    pub fn close<C>(&mut self) -> Option<C>
    where
        A: AnyMachine<C>,
    {
        self.current.take().map(A::__close)
    }
}

impl<A> Default for Slot<A> {
    fn default() -> Self {
        Slot::empty()
    }
}

impl<A> From<A> for Slot<A> {
    fn from(machine: A) -> Self {
        Slot {
            current: Some(machine),
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for Slot<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.current {
            Some(machine) => f.debug_tuple("Slot").field(machine).finish(),
            None => f.write_str("Slot(<empty>)"),
        }
    }
}

/// Not public API: what generated `TryFrom` impls of the all-states enum `A` are made of.
///
/// `into` moves the machine the enum holds into `slot` if `slot` is an `Option` of its type
/// (through [`put`]) and gives the enum back otherwise; `take` asks it for a machine of type
/// `M`. One match over the variants serves every state this way.
#[doc(hidden)]
pub fn take<M: 'static, A>(any: A, into: fn(A, &mut dyn Any) -> Option<A>) -> Result<M, A> {
    let mut slot: Option<M> = None;
    match into(any, &mut slot) {
        Some(any) => Err(any),
        None => match slot {
            Some(machine) => Ok(machine),
            None => unreachable!("`put` fills the slot whenever it keeps the machine"),
        },
    }
}

/// Not public API: moves `machine` into `slot` when `slot` is an `Option<M>`; otherwise wraps it
/// back into the all-states enum with `back` and returns that. See [`take`].
#[doc(hidden)]
pub fn put<M: 'static, A>(slot: &mut dyn Any, machine: M, back: fn(M) -> A) -> Option<A> {
    match slot.downcast_mut::<Option<M>>() {
        Some(slot) => {
            *slot = Some(machine);
            None
        }
        None => Some(back(machine)),
    }
}
