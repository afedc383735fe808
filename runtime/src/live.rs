//! The engine under every generated machine type: one live state, its context, its life, and
//! the hook calls that make exit and close run exactly once.
//!
//! Generated code instantiates these types once per state, in the user's crate, so the generic
//! parts are kept to moving the state and calling its hooks; everything that does not depend on
//! the state's type (lives, observers, names) is [`Meta`]'s, compiled once here, and what depends
//! on the context only is [`Core`]'s, compiled once per machine.

use std::mem::ManuallyDrop;
use std::sync::{Arc, OnceLock};

use crate::handle::{Fate, Handle, Life, MachineId};
use crate::observe::{Observer, Step};
use crate::state::State;

/// What a machine keeps whatever its state: names, the current state's life, the observer.
///
/// A state's life is made when its first handle is minted: a state nobody holds a handle of
/// costs nothing to enter or leave.
struct Meta {
    machine: &'static str,
    name: &'static str,
    life: OnceLock<Arc<Life>>,
    id: MachineId,
    observer: Option<Arc<dyn Observer>>,
}

impl Meta {
    fn enter(
        machine: &'static str,
        name: &'static str,
        role: &'static str,
        observer: Option<Arc<dyn Observer>>,
    ) -> Meta {
        let id = MachineId::next();
        if let Some(observer) = &observer {
            observer.on_step(&Step::Entered {
                machine,
                id,
                role,
                state: name,
            });
        }
        Meta {
            machine,
            name,
            life: OnceLock::new(),
            id,
            observer,
        }
    }

    /// The first half of a transition: the state is sealed, so its handles fail from here on.
    fn seal_for(&self, transition: &'static str, to: &'static str) {
        if let Some(life) = self.life.get() {
            life.seal(Fate::Transitioned { transition, to });
        }
    }

    /// The second half of a transition, once the new state exists: the observer hears of it and
    /// the new state gets its own life.
    fn entered(&mut self, transition: &'static str, to: &'static str) {
        if let Some(observer) = &self.observer {
            observer.on_step(&Step::Transitioned {
                machine: self.machine,
                id: self.id,
                from: self.name,
                to,
                transition,
            });
        }
        self.name = to;
        self.life = OnceLock::new();
    }

    fn seal_closed(&self) {
        if let Some(life) = self.life.get() {
            life.seal(Fate::Closed);
        }
    }

    /// The current state's life, made now if no handle of it was minted before.
    fn life(&self) -> &Arc<Life> {
        self.life
            .get_or_init(|| Life::new(self.machine, self.name, self.id))
    }

    fn closed(&self) {
        if let Some(observer) = &self.observer {
            observer.on_step(&Step::Closed {
                machine: self.machine,
                id: self.id,
                state: self.name,
            });
        }
    }
}

/// The context and the bookkeeping of a machine, whatever its state: what the all-states enum
/// reaches through any of its variants. Not public API.
///
/// `parts` is `Some` while the machine lives; a transition moves it to the next state's [`Live`]
/// and a close takes the context out of it. The parts are boxed once, when the machine is
/// entered, so that a transition moves a pointer rather than the whole context.
#[doc(hidden)]
pub struct Core<C> {
    parts: Option<Box<Parts<C>>>,
}

struct Parts<C> {
    ctx: C,
    meta: Meta,
}

impl<C> Core<C> {
    fn parts(&self) -> &Parts<C> {
        match &self.parts {
            Some(parts) => parts,
            None => consumed(),
        }
    }

    fn parts_mut(&mut self) -> &mut Parts<C> {
        match &mut self.parts {
            Some(parts) => parts,
            None => consumed(),
        }
    }

    /// Takes the parts out, to move them to the next state or to return the context on close.
    /// They stay boxed: moving them on to the next state moves the box.
    #[allow(
        clippy::unnecessary_box_returns,
        reason = "the box is the point: the parts move between states without being copied"
    )]
    fn take(&mut self) -> Box<Parts<C>> {
        match self.parts.take() {
            Some(parts) => parts,
            None => consumed(),
        }
    }

    /// The first half of a transition: seals the current state for `transition` to `to` and
    /// lends the context to the exit hook.
    fn leaving(&mut self, transition: &'static str, to: &'static str) -> &mut C {
        let parts = self.parts_mut();
        parts.meta.seal_for(transition, to);
        &mut parts.ctx
    }

    /// The second half of a transition, once the next state's data is built: moves the parts on
    /// to the next state, which gets its own life; the observer hears of it.
    fn moved_on(mut self, transition: &'static str, to: &'static str) -> Self {
        let mut parts = self.take();
        parts.meta.entered(transition, to);
        Core { parts: Some(parts) }
    }

    /// Seals the current state for a close and lends the context to the close hook.
    fn closing(&mut self) -> &mut C {
        let parts = self.parts_mut();
        parts.meta.seal_closed();
        &mut parts.ctx
    }

    /// The end of a close, after the close hook: the observer hears of it and the context is
    /// returned.
    fn finish(mut self) -> C {
        let Parts { ctx, meta } = *self.take();
        meta.closed();
        ctx
    }

    /// The end of a drop-close, after the close hook: the observer hears of it.
    fn closed(&self) {
        self.parts().meta.closed();
    }

    /// The state's name.
    pub fn name(&self) -> &'static str {
        self.parts().meta.name
    }

    /// The machine instance's id.
    pub fn id(&self) -> MachineId {
        self.parts().meta.id
    }

    /// A handle on the current state.
    pub fn handle(&self) -> Handle {
        Handle::new(Arc::clone(self.parts().meta.life()))
    }

    /// Whether `handle` was minted by the current state.
    pub fn owns(&self, handle: &Handle) -> bool {
        self.parts()
            .meta
            .life
            .get()
            .is_some_and(|life| handle.is_of(life))
    }

    /// Installs (or replaces) the observer of this machine instance.
    pub fn set_observer(&mut self, observer: Arc<dyn Observer>) {
        self.parts_mut().meta.observer = Some(observer);
    }

    /// The context carried across transitions.
    pub fn context(&self) -> &C {
        &self.parts().ctx
    }

    /// The context carried across transitions, mutably.
    pub fn context_mut(&mut self) -> &mut C {
        &mut self.parts_mut().ctx
    }
}

/// One machine in one state. Generated machine types wrap this; it is not public API.
///
/// `state` is `Some` from construction until the state is consumed by a transition or a close;
/// both take it, so `Drop` finds it `None` after them and `Some` only when the value is dropped
/// while still live, which is when it closes the machine.
#[doc(hidden)]
pub struct Live<S, C> {
    state: Option<S>,
    /// The state's close hook, if it has one; without one, closing drops the state's data. Kept
    /// here because `Drop` cannot ask the state for it.
    close: Option<fn(S, &mut C)>,
    /// The context and bookkeeping, the same in every state. Generated code reaches it directly
    /// (a method would be one more function per state to compile).
    pub core: Core<C>,
}

impl<S, C> Live<S, C> {
    /// Enters a machine of `machine` in state `name` (its data `state`, its close hook `close`)
    /// through the entrypoint `role`, with `observer` (if any) seeing the entry and every later
    /// step.
    pub fn enter(
        machine: &'static str,
        role: &'static str,
        name: &'static str,
        ctx: C,
        state: S,
        close: Option<fn(S, &mut C)>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Self {
        Live {
            state: Some(state),
            close,
            core: Core {
                parts: Some(Box::new(Parts {
                    ctx,
                    meta: Meta::enter(machine, name, role, observer),
                })),
            },
        }
    }

    /// The state's own data.
    pub fn state(&self) -> &S {
        match &self.state {
            Some(state) => state,
            None => consumed(),
        }
    }

    /// The state's own data, mutably.
    pub fn state_mut(&mut self) -> &mut S {
        match &mut self.state {
            Some(state) => state,
            None => consumed(),
        }
    }

    /// Takes the transition `transition` to the state `T`, building its data from this state's.
    ///
    /// Order: the old state is sealed (its handles fail from here on), its exit hook runs, the new
    /// state's data is built, the observer hears of the step. One function per edge, the only
    /// one: the state is taken out here rather than in a helper of its own.
    pub fn transition<T>(self, transition: &'static str, build: impl FnOnce(S) -> T) -> Live<T, C>
    where
        S: State<C>,
        T: State<C>,
    {
        let (mut state, mut core) = self.into_parts();
        let ctx = core.leaving(transition, T::NAME);
        if let Some(exit) = S::EXIT {
            exit(&mut state, ctx);
        }
        let next = build(state);
        Live {
            state: Some(next),
            close: T::CLOSE,
            core: core.moved_on(transition, T::NAME),
        }
    }

    /// Closes the machine in this state and returns its context.
    pub fn close(self) -> C {
        let close = self.close;
        let (state, mut core) = self.into_parts();
        let ctx = core.closing();
        match close {
            Some(close) => close(state, ctx),
            None => {
                let _dropped = state;
            }
        }
        core.finish()
    }

    /// Takes the state's data and the core out of a live machine, which is then forgotten
    /// rather than dropped, since nothing is left in it to drop. Wrapping `self` before anything
    /// else means no path of a transition or a close, unwinding included, drops a `Live`: its
    /// drop glue and `Drop` impl are compiled only for machines dropped while live.
    #[inline]
    fn into_parts(self) -> (S, Core<C>) {
        let mut this = ManuallyDrop::new(self);
        let Some(state) = this.state.take() else {
            consumed()
        };
        (
            state,
            Core {
                parts: this.core.parts.take(),
            },
        )
    }
}

impl<S, C> Drop for Live<S, C> {
    /// Closes the machine if the state is still live (not consumed by a transition or a close):
    /// seals the state, runs its close hook (or drops its data) and tells the observer.
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            let ctx = self.core.closing();
            match self.close {
                Some(close) => close(state, ctx),
                None => {
                    let _dropped = state;
                }
            }
            self.core.closed();
        }
    }
}

/// Where a consumed state value would be reported: transitions and closes take the value, so
/// none is ever reached. Out of line, so that the code of each state does not carry the panic.
#[cold]
#[inline(never)]
fn consumed() -> ! {
    unreachable!("a consumed state value is never reachable")
}
