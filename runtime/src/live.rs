//! The engine under every generated machine type: one live state, its context, its slot, and
//! the hook calls that make exit and close run exactly once.

use core::fmt;
use std::sync::Arc;

use crate::handle::{Fate, Handle, MachineId, Slot};
use crate::observe::{Observer, Step};

/// Static description of one state that generated code hands to the engine.
#[doc(hidden)]
pub struct StateSpec<S, C> {
    /// The machine's name.
    pub machine: &'static str,
    /// The state's name.
    pub name: &'static str,
    /// Runs when a transition leaves the state.
    pub exit: fn(&mut S, &mut C),
    /// Runs when the machine is closed (or dropped) in the state.
    pub close: fn(S, &mut C),
}

// Manual impls: a derive would demand `S: Copy, C: Copy`, which fn pointers do not need.
impl<S, C> Clone for StateSpec<S, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, C> Copy for StateSpec<S, C> {}

struct Inner<S, C> {
    state: S,
    ctx: C,
    spec: StateSpec<S, C>,
    slot: Arc<Slot>,
    id: MachineId,
    observer: Option<Arc<dyn Observer>>,
}

/// One machine in one state. Generated machine types wrap this; it is not public API.
///
/// `inner` is `Some` from construction until the state is consumed by a transition or a close;
/// both take it, so `Drop` finds it `None` after them and `Some` only when the value is dropped
/// while still live, which is when it closes the machine.
#[doc(hidden)]
pub struct Live<S, C> {
    inner: Option<Inner<S, C>>,
}

impl<S, C> Live<S, C> {
    /// Enters a machine at `spec` through the entrypoint `role`.
    pub fn enter(
        spec: &StateSpec<S, C>,
        role: &'static str,
        ctx: C,
        state: S,
        observer: Option<Arc<dyn Observer>>,
    ) -> Self {
        let id = MachineId::next();
        if let Some(observer) = &observer {
            observer.on_step(&Step::Entered {
                machine: spec.machine,
                id,
                role,
                state: spec.name,
            });
        }
        Live {
            inner: Some(Inner {
                slot: Slot::new(spec.machine, spec.name, id),
                state,
                ctx,
                spec: *spec,
                id,
                observer,
            }),
        }
    }

    fn inner(&self) -> &Inner<S, C> {
        match &self.inner {
            Some(inner) => inner,
            None => unreachable!("a consumed state value is never reachable"),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner<S, C> {
        match &mut self.inner {
            Some(inner) => inner,
            None => unreachable!("a consumed state value is never reachable"),
        }
    }

    fn take(&mut self) -> Inner<S, C> {
        match self.inner.take() {
            Some(inner) => inner,
            None => unreachable!("a state value is consumed once"),
        }
    }

    /// The state's own data.
    pub fn state(&self) -> &S {
        &self.inner().state
    }

    /// The state's own data, mutably.
    pub fn state_mut(&mut self) -> &mut S {
        &mut self.inner_mut().state
    }

    /// The context carried across transitions.
    pub fn context(&self) -> &C {
        &self.inner().ctx
    }

    /// The context carried across transitions, mutably.
    pub fn context_mut(&mut self) -> &mut C {
        &mut self.inner_mut().ctx
    }

    /// The state's name.
    pub fn name(&self) -> &'static str {
        self.inner().spec.name
    }

    /// The machine instance's id.
    pub fn id(&self) -> MachineId {
        self.inner().id
    }

    /// A handle on this state.
    pub fn handle(&self) -> Handle {
        Handle::new(Arc::clone(&self.inner().slot))
    }

    /// Installs (or replaces) the observer of this machine instance.
    pub fn set_observer(&mut self, observer: Arc<dyn Observer>) {
        self.inner_mut().observer = Some(observer);
    }

    /// Takes the transition `transition` to the state `to`, building its data from this state's.
    ///
    /// Order: the old state is sealed (its handles fail from here on), its exit hook runs, the new
    /// state's data is built, the observer hears of the step.
    pub fn transition<T>(
        mut self,
        transition: &'static str,
        to: &StateSpec<T, C>,
        build: impl FnOnce(S) -> T,
    ) -> Live<T, C> {
        let Inner {
            mut state,
            mut ctx,
            spec,
            slot,
            id,
            observer,
        } = self.take();
        slot.seal(Fate::Transitioned {
            transition,
            to: to.name,
        });
        (spec.exit)(&mut state, &mut ctx);
        let next = build(state);
        if let Some(observer) = &observer {
            observer.on_step(&Step::Transitioned {
                machine: spec.machine,
                id,
                from: spec.name,
                to: to.name,
                transition,
            });
        }
        Live {
            inner: Some(Inner {
                state: next,
                ctx,
                spec: *to,
                slot: Slot::new(to.machine, to.name, id),
                id,
                observer,
            }),
        }
    }

    /// Closes the machine in this state and returns its context.
    pub fn close(mut self) -> C {
        Self::close_inner(self.take())
    }

    fn close_inner(inner: Inner<S, C>) -> C {
        let Inner {
            state,
            mut ctx,
            spec,
            slot,
            id,
            observer,
        } = inner;
        slot.seal(Fate::Closed);
        (spec.close)(state, &mut ctx);
        if let Some(observer) = &observer {
            observer.on_step(&Step::Closed {
                machine: spec.machine,
                id,
                state: spec.name,
            });
        }
        ctx
    }
}

impl<S, C> Drop for Live<S, C> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            drop(Self::close_inner(inner));
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for Live<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Some(inner) => f
                .debug_struct(inner.spec.name)
                .field("id", &inner.id)
                .field("state", &inner.state)
                .field("context", &inner.ctx)
                .finish(),
            None => f.write_str("<consumed>"),
        }
    }
}
