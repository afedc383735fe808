//! The proc-macro behind [statebound](https://docs.rs/statebound). Depend on `statebound`, which
//! re-exports [`machine`] and holds what the generated code needs.

mod ast;
mod check;
mod errors;
mod expand;
mod generate;
mod model;
mod parse;
mod suggest;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Turns an inline module that declares a state graph into typestate code.
///
/// # Grammar
///
/// ```text
/// #[statebound::machine]                    or  #[statebound::machine(name = T, any = U, ..)]
/// mod NAME {
///     #[context]                            at most one: data every state carries
///     struct CONTEXT { .. }
///
///     #[state]                              or  #[state(exit = f, close = g, transient)]
///     #[entry(ROLE, ..)]                    zero or more: constructors that start here
///     #[transition(NAME -> TARGET)]         zero or more: edges that leave here
///     struct STATE { .. }                   any non-generic struct: the state's own data
///
///     fn f(state: &mut STATE, ctx: &mut CONTEXT) { .. }   exit hook
///     fn g(state: STATE, ctx: &mut CONTEXT) { .. }        close hook
///     ..                                    any other items, kept as they are
/// }
/// ```
///
/// Without a context, hooks drop the context argument and the context type is `()`. Hooks may
/// also be paths to functions outside the module.
///
/// Arguments of `#[machine(..)]`, all optional: `name = T` and `any = U` rename the machine type
/// and the all-states enum; `context = Path` takes the context from outside the module instead
/// of a `#[context]` struct; `crate = Path` is where generated code finds the runtime crate
/// (`::statebound` by default), for code that reaches statebound through a re-export or a
/// renamed dependency: `#[sb::machine(crate = ::sb)]`.
///
/// The graph is read before `cfg` is evaluated, so states, the context and statebound's own
/// attributes cannot be conditional (`#[cfg]` on them, or `#[cfg_attr(.., transition(..))]`).
///
/// # What is generated, inside the module
///
/// - `Machine<S>` (renamed with `name = ..`): the machine in state `S`. It dereferences to the
///   state's data and has `context()`, `context_mut()`, `handle()`, `id()`, `name()`,
///   `into_any()` and `with_observer(..)` in every state. It cannot be cloned: a machine is one
///   live instance whose hooks run once, so `machine.clone()` is a compile error (the state's
///   data clones with `State::clone(&machine)` when the state is `Clone`). Its docs hold the
///   graph as a table, and each state's docs say how the state is left.
/// - Per entrypoint `ROLE` on `STATE`: `Machine::ROLE(context, state) -> Machine<STATE>`, and
///   `ROLE_observed(context, state, observer)`.
/// - Per transition `NAME -> TARGET` on `STATE`: `Machine<STATE>::NAME(self, build) ->
///   Machine<TARGET>`, where `build: FnOnce(STATE) -> TARGET` makes the new state's data from the
///   old. Calling a transition the state lacks fails to compile with a message naming the state and
///   the transitions it has. Several states may declare the same transition name, each with its
///   own target (TCP's `rcv_fin` leaves `Established` for `CloseWait` and `FinWait1` for
///   `Closing`).
/// - `Machine<STATE>::close(self) -> CONTEXT`, except on `transient` states, which must be left by
///   a transition. Dropping a machine closes it too.
/// - `AnyState` (renamed with `any = ..`): an enum with one variant per state, with `From` and
///   `TryFrom` conversions, for storing machines whose state varies. It has `name()`, `id()`,
///   `handle()`, `is_current(&handle)`, `context()`, `context_mut()` and `close()`; held in a
///   [`Slot`](../statebound/struct.Slot.html), it advances in place.
/// - `GRAPH`: a [`Graph`](../statebound/struct.Graph.html) constant describing it all, which
///   renders as Mermaid or DOT.
///
/// Hooks run exactly once: a state's exit hook when a transition leaves it, its close hook when
/// the machine is closed or dropped in it. Leaving a state seals it first, so its handles fail
/// from then on.
///
/// # Checks
///
/// The graph must have at least one state and one entrypoint; every state must be reachable
/// from an entrypoint; transition targets must be declared states; names must not repeat
/// (states, a state's transitions, roles); transitions and roles must not take the name of a
/// method the machine type has or is used through (`close`, `clone`, `into`, `from`, `deref`,
/// `fmt`, .., a role's `ROLE_observed`); a transient state must lead to a closable one; hooks
/// must exist with the signatures above. States cannot be generic or `#[cfg]`-gated. Each
/// violation is reported at the offending token.
///
/// # Example
///
/// ```
/// #[statebound::machine]
/// mod light {
///     #[state]
///     #[entry(install)]
///     #[transition(switch_on -> On)]
///     pub struct Off;
///
///     #[state(close = log_off)]
///     #[transition(switch_off -> Off)]
///     pub struct On {
///         pub watts: u32,
///     }
///
///     fn log_off(on: On) {
///         assert!(on.watts > 0);
///     }
/// }
///
/// let on = light::Machine::install(light::Off).switch_on(|_| light::On { watts: 60 });
/// assert_eq!(on.watts, 60);
/// let off = on.switch_off(|_| light::Off);
/// assert_eq!(off.name(), "Off");
/// ```
#[proc_macro_attribute]
pub fn machine(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::machine(args.into(), &item.into()).into()
}
