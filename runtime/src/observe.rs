//! Observing a machine: every entry, transition and close, as it happens.

use crate::handle::MachineId;

/// One step in the life of a machine instance, as an [`Observer`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The machine was created through an entrypoint.
    Entered {
        /// Name of the machine.
        machine: &'static str,
        /// Id of the instance.
        id: MachineId,
        /// Role of the entrypoint.
        role: &'static str,
        /// State entered.
        state: &'static str,
    },
    /// The machine took a transition.
    Transitioned {
        /// Name of the machine.
        machine: &'static str,
        /// Id of the instance.
        id: MachineId,
        /// State left.
        from: &'static str,
        /// State entered.
        to: &'static str,
        /// Name of the transition.
        transition: &'static str,
    },
    /// The machine was closed (explicitly or by being dropped).
    Closed {
        /// Name of the machine.
        machine: &'static str,
        /// Id of the instance.
        id: MachineId,
        /// State it was closed in.
        state: &'static str,
    },
}

impl Step {
    /// Id of the machine instance this step belongs to.
    pub fn id(&self) -> MachineId {
        match *self {
            Step::Entered { id, .. } | Step::Transitioned { id, .. } | Step::Closed { id, .. } => {
                id
            }
        }
    }
}

/// Sees every step of the machine instances it is installed on.
///
/// Install one with the `*_observed` entrypoint constructors or `set_observer`. It is called
/// synchronously on the thread that takes the step, after the step's hooks ran, so it should be
/// quick: log, count, or forward into a channel.
pub trait Observer: Send + Sync {
    /// Called once per step.
    fn on_step(&self, step: &Step);
}

impl<F: Fn(&Step) + Send + Sync> Observer for F {
    fn on_step(&self, step: &Step) {
        self(step);
    }
}
