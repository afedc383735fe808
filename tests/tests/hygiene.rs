//! Hygiene trap: the names generated code could lean on are shadowed, at the top of this crate
//! and inside the machine's own module, and the machine must still expand, compile and behave.
//!
//! Generated code has to reach std and the runtime through absolute paths
//! (`::statebound::__private::core::...`), so none of these shadows may change its meaning.

// The shadows are deliberately named like the std items they hide, and most are never used.
#![allow(
    dead_code,
    unused_macros,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals
)]

use statebound::{Fate, StateConsumed};

struct Option;
struct Result;
struct Box;
struct Vec;
struct String;
struct Arc;
struct Formatter;
struct PhantomData;
fn Some() {}
fn Ok() {}
fn Err() {}
const None: () = ();
mod core {}
trait FnOnce {}
trait Fn {}
trait Deref {}
trait DerefMut {}
trait Debug {}
trait From {}
trait TryFrom {}
trait Into {}
trait Drop {}
trait Clone {}
trait Copy {}
trait Send {}
trait Sync {}
trait Sized {}
macro_rules! unreachable {
    ($($t:tt)*) => {
        compile_error!("generated code used the shadowed `unreachable!`")
    };
}
macro_rules! panic {
    ($($t:tt)*) => {
        compile_error!("generated code used the shadowed `panic!`")
    };
}

#[statebound::machine]
mod door {
    /// What every door state carries: a log of hook calls.
    #[context]
    pub(crate) struct Door {
        pub(crate) log: ::std::vec::Vec<&'static str>,
    }

    #[state(exit = leave_shut, close = close_shut)]
    #[entry(install)]
    #[transition(open -> Open)]
    pub(crate) struct Shut;

    #[state(exit = leave_open)]
    #[transition(shut -> Shut)]
    #[transition(slam -> Slammed)]
    pub(crate) struct Open {
        pub(crate) since: u64,
    }

    #[state(transient)]
    #[transition(settle -> Shut)]
    pub(crate) struct Slammed;

    fn leave_shut(_state: &mut Shut, door: &mut Door) {
        door.log.push("exit Shut");
    }

    fn leave_open(_state: &mut Open, door: &mut Door) {
        door.log.push("exit Open");
    }

    fn close_shut(_state: Shut, door: &mut Door) {
        door.log.push("close Shut");
    }

    struct Option;
    struct Result;
    struct Box;
    struct Vec;
    struct String;
    struct Arc;
    struct Formatter;
    struct PhantomData;
    fn Some() {}
    fn Ok() {}
    fn Err() {}
    const None: () = ();
    mod core {}
    mod std {}
    mod statebound {}
    trait FnOnce {}
    trait Fn {}
    trait Deref {}
    trait DerefMut {}
    trait Debug {}
    trait From {}
    trait TryFrom {}
    trait Into {}
    trait Drop {}
    trait Clone {}
    trait Copy {}
    trait Send {}
    trait Sync {}
    trait Sized {}
    macro_rules! unreachable {
        ($($t:tt)*) => {
            compile_error!("generated code used the shadowed `unreachable!`")
        };
    }
    macro_rules! panic {
        ($($t:tt)*) => {
            compile_error!("generated code used the shadowed `panic!`")
        };
    }
}

fn new_door() -> door::Machine<door::Shut> {
    door::Machine::install(
        door::Door {
            log: ::std::vec::Vec::new(),
        },
        door::Shut,
    )
}

#[test]
fn enter_transition_and_close_run_each_hook_once() {
    let shut = new_door();
    assert_eq!(shut.name(), "Shut");
    let open = shut.open(|door::Shut| door::Open { since: 7 });
    assert_eq!(open.since, 7);
    assert_eq!(open.context().log, ["exit Shut"]);
    let shut = open.shut(|_| door::Shut);
    let door = shut.close();
    assert_eq!(door.log, ["exit Shut", "exit Open", "close Shut"]);
}

#[test]
fn a_transient_state_is_left_by_its_transition() {
    let slammed = new_door()
        .open(|_| door::Open { since: 1 })
        .slam(|_| door::Slammed);
    assert_eq!(slammed.name(), "Slammed");
    let door = slammed.settle(|door::Slammed| door::Shut).close();
    assert_eq!(door.log, ["exit Shut", "exit Open", "close Shut"]);
}

#[test]
fn a_stale_handle_names_the_state_that_minted_it() {
    let shut = new_door();
    let handle = shut.handle();
    assert!(handle.check().is_ok());
    let open = shut.open(|_| door::Open { since: 2 });
    assert_eq!(
        handle.check(),
        ::core::result::Result::Err(StateConsumed {
            machine: "door",
            state: "Shut",
            fate: Fate::Transitioned {
                transition: "open",
                to: "Open",
            },
        })
    );
    drop(open);
}

#[test]
fn any_state_round_trips() {
    let shut = new_door();
    let id = shut.id();
    let any: door::AnyState = shut.open(|_| door::Open { since: 3 }).into_any();
    assert_eq!(any.name(), "Open");
    assert_eq!(any.id(), id);
    assert_eq!(any.context().log, ["exit Shut"]);

    let ::core::result::Result::Err(any) = door::Machine::<door::Shut>::try_from(any) else {
        ::std::panic!("an open door converted to `Shut`");
    };
    let ::core::result::Result::Ok(open) = door::Machine::<door::Open>::try_from(any) else {
        ::std::panic!("an open door did not convert back to `Open`");
    };
    let any = door::AnyState::from(open.slam(|_| door::Slammed));
    assert!(::std::format!("{any:?}").contains("Slammed"));
    // Closing through `AnyState` is allowed even in a transient state, as dropping would be.
    let door = any.close();
    assert_eq!(door.log, ["exit Shut", "exit Open"]);
}

#[test]
fn the_graph_constant_describes_the_declaration() {
    let graph = door::GRAPH;
    assert_eq!(graph.name, "door");
    let states: ::std::vec::Vec<&str> = graph.states.iter().map(|s| s.name).collect();
    assert_eq!(states, ["Shut", "Open", "Slammed"]);
    let shut = graph.state("Shut").expect("`Shut` is declared");
    assert_eq!(shut.exit, ::core::option::Option::Some("leave_shut"));
    assert_eq!(shut.close, ::core::option::Option::Some("close_shut"));
    assert_eq!(shut.doc, "");
    assert!(graph.state("Slammed").is_some_and(|s| s.transient));
    assert_eq!(graph.entrypoints.len(), 1);
    assert_eq!(graph.entrypoints[0].role, "install");
    let edges: ::std::vec::Vec<(&str, &str, &str)> = graph
        .transitions
        .iter()
        .map(|t| (t.from, t.name, t.to))
        .collect();
    assert_eq!(
        edges,
        [
            ("Shut", "open", "Open"),
            ("Open", "shut", "Shut"),
            ("Open", "slam", "Slammed"),
            ("Slammed", "settle", "Shut"),
        ]
    );
    assert!(graph.to_mermaid().contains("Open --> Slammed: slam"));
}

/// Names the generated code binds for itself (locals, hidden functions' parameters, the type
/// parameter) are `__`-prefixed, so items of the user's that share their plain names do not
/// capture them. The documented parameters of public methods (`build`, `context`, `state`,
/// `observer`) keep their plain names for the docs' sake: a constant or unit struct with one of
/// those names in the machine's module would capture them, as it would any macro's parameters.
#[statebound::machine]
mod captures {
    #![allow(
        non_camel_case_types,
        non_upper_case_globals,
        dead_code,
        unreachable_pub
    )]

    /// Named like the machine type's parameter.
    #[context]
    pub struct S {
        pub closed: u32,
    }

    pub struct m;
    pub struct any;
    pub struct other;
    pub struct f;
    pub struct machine;

    macro_rules! stringify {
        ($($t:tt)*) => {
            compile_error!("the user's `stringify!` was called")
        };
    }

    /// Idle.
    #[state(exit = state, close = context)]
    #[entry(install)]
    #[transition(go -> Busy)]
    pub struct Idle;

    /// Busy.
    #[state]
    #[transition(stop -> Idle)]
    pub struct Busy;

    fn state(_: &mut Idle, _: &mut S) {}

    fn context(_: Idle, ctx: &mut S) {
        ctx.closed += 1;
    }
}

#[test]
fn user_items_named_like_generated_bindings_are_not_captured() {
    let idle = captures::Machine::install(captures::S { closed: 0 }, captures::Idle);
    let busy = idle.go(|_| captures::Busy);
    let any = captures::AnyState::from(busy);
    assert_eq!(
        ::std::format!("{any:?}").split('{').next(),
        ::core::option::Option::Some("AnyState ")
    );
    let busy = captures::Machine::<captures::Busy>::try_from(any).expect("it is busy");
    let ctx = busy.stop(|_| captures::Idle).close();
    assert_eq!(ctx.closed, 1);
}
