//! Lint trap: a documented machine under the strictest lint levels a user might set.
//!
//! Generated code must not add a warning of its own, whatever lints the user denies: not
//! `missing_docs`, not `unreachable_pub`, not clippy's pedantic group.

#![deny(warnings, missing_docs)]
#![deny(clippy::pedantic)]

/// A turnstile: takes a coin, lets one person through.
pub mod turnstile {
    /// Counts what went through the turnstile.
    #[statebound::machine]
    pub mod gate {
        /// Carried by every state of the turnstile.
        #[context]
        #[derive(Debug, Default)]
        pub struct Counters {
            /// Coins taken.
            pub coins: u32,
            /// People let through.
            pub passes: u32,
            /// Receipts of the coins handed back when the turnstile closed while unlocked.
            pub refunds: Vec<String>,
        }

        /// Locked until a coin is inserted.
        #[state(exit = take_coin)]
        #[entry(install)]
        #[transition(insert_coin -> Unlocked)]
        #[derive(Debug)]
        pub struct Locked;

        /// Unlocked for one person.
        #[state(close = refund)]
        #[entry(service)]
        #[transition(push -> Turning)]
        #[derive(Debug)]
        pub struct Unlocked {
            /// Receipt of the coin that unlocked it.
            pub receipt: String,
        }

        /// Turning: must finish the turn before the turnstile can close.
        #[state(transient)]
        #[transition(lock -> Locked)]
        #[derive(Debug)]
        pub struct Turning;

        fn take_coin(_state: &mut Locked, counters: &mut Counters) {
            counters.coins += 1;
        }

        fn refund(state: Unlocked, counters: &mut Counters) {
            counters.refunds.push(state.receipt);
        }
    }
}

use turnstile::gate;

#[test]
fn a_documented_machine_compiles_and_runs_under_strict_lints() {
    let locked = gate::Machine::install(gate::Counters::default(), gate::Locked);
    let handle = locked.handle();
    let unlocked = locked.insert_coin(|gate::Locked| gate::Unlocked {
        receipt: "coin #1".to_owned(),
    });
    assert!(!handle.is_live());
    assert_eq!(unlocked.receipt, "coin #1");
    let mut turning = unlocked.push(|_| gate::Turning);
    turning.context_mut().passes += 1;
    let locked = turning.lock(|gate::Turning| gate::Locked);
    let counters = locked.close();
    assert_eq!((counters.coins, counters.passes), (1, 1));
    assert!(counters.refunds.is_empty(), "`Locked` has no close hook");

    let unlocked = gate::Machine::service(
        gate::Counters::default(),
        gate::Unlocked {
            receipt: "coin #2".to_owned(),
        },
    );
    let any = gate::AnyState::from(unlocked);
    assert_eq!(any.name(), "Unlocked");
    assert_eq!(any.close().refunds, ["coin #2"]);

    assert_eq!(gate::GRAPH.entrypoints.len(), 2);
    assert_eq!(
        gate::GRAPH.state("Turning").map(|s| s.doc),
        Some("Turning: must finish the turn before the turnstile can close.")
    );
}
