//! The two user crates compared for one size: the same ring of states declared with the macro
//! and written by hand as plain typestate code.
//!
//! The ring has states `S0`..`S{n-1}`. Each state `Si` has `step_i` to the next state (the last
//! one back to `S0`), and every state but `S0` also has `reset` to `S0`: `n + 1` transition
//! names and `2n - 1` edges. `S0` is the entrypoint and has an exit hook that counts steps.
//! Both crates can also hold the same `walk` function, which goes once around the ring and
//! closes, so that what a use of every transition costs is measured too: generic code (the
//! macro's) is compiled where it is used, non-generic code (the hand-written) where it is
//! declared.

use std::fmt::Write as _;

/// The crate root of the macro variant, with `walk` when `walk` is set.
pub(crate) fn with_macro(n: usize, walk: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "//! A ring of {n} states declared with `#[statebound::machine]`.\n\n\
         /// The ring.\n\
         #[statebound::machine]\n\
         pub mod ring {{\n    \
         /// Carried by every state.\n    \
         #[context]\n    \
         pub struct Counter {{\n        \
         /// Steps taken out of `S0`.\n        \
         pub steps: u64,\n    \
         }}\n"
    );
    for i in 0..n {
        let next = (i + 1) % n;
        let _ = writeln!(s, "    /// State {i}.");
        if i == 0 {
            let _ = writeln!(s, "    #[state(exit = count)]\n    #[entry(start)]");
        } else {
            let _ = writeln!(s, "    #[state]");
        }
        let _ = writeln!(s, "    #[transition(step_{i} -> S{next})]");
        if i != 0 {
            let _ = writeln!(s, "    #[transition(reset -> S0)]");
        }
        let _ = writeln!(
            s,
            "    pub struct S{i} {{\n        /// Steps so far.\n        pub n: u64,\n    }}\n"
        );
    }
    let _ = writeln!(
        s,
        "    fn count(_: &mut S0, counter: &mut Counter) {{\n        counter.steps += 1;\n    }}\n}}\n"
    );
    if walk {
        s.push_str(&walk_fn(n));
    }
    s
}

/// The crate root of the hand-written variant: the same states, a machine type generic over
/// the state, one method per edge, `close`, and an enum over all states with `From`
/// conversions; the exit hook of `S0` is written out in the methods that leave it. With `walk`
/// when `walk` is set.
pub(crate) fn by_hand(n: usize, walk: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "//! A ring of {n} states written by hand as plain typestate code.\n\n\
         /// The ring.\n\
         pub mod ring {{\n    \
         /// Carried by every state.\n    \
         pub struct Counter {{\n        \
         /// Steps taken out of `S0`.\n        \
         pub steps: u64,\n    \
         }}\n\n    \
         /// A ring machine in the state its type parameter names.\n    \
         pub struct Machine<S> {{\n        \
         state: S,\n        \
         counter: Counter,\n    \
         }}\n\n    \
         impl<S> Machine<S> {{\n        \
         /// The context.\n        \
         pub fn context(&self) -> &Counter {{\n            \
         &self.counter\n        \
         }}\n\n        \
         /// Ends the machine and returns its context.\n        \
         pub fn close(self) -> Counter {{\n            \
         self.counter\n        \
         }}\n    \
         }}\n\n    \
         impl<S> core::ops::Deref for Machine<S> {{\n        \
         type Target = S;\n\n        \
         fn deref(&self) -> &S {{\n            \
         &self.state\n        \
         }}\n    \
         }}\n\n    \
         /// Whichever state the ring is in.\n    \
         pub enum AnyState {{"
    );
    for i in 0..n {
        let _ = writeln!(s, "        /// In `S{i}`.\n        S{i}(Machine<S{i}>),");
    }
    s.push_str("    }\n\n");
    for i in 0..n {
        let next = (i + 1) % n;
        let _ = writeln!(
            s,
            "    /// State {i}.\n    pub struct S{i} {{\n        /// Steps so far.\n        pub n: u64,\n    }}\n\n    \
             impl Machine<S{i}> {{"
        );
        if i == 0 {
            s.push_str(
                "        /// Starts a ring in `S0`.\n        \
                 pub fn start(counter: Counter, state: S0) -> Self {\n            \
                 Machine { state, counter }\n        \
                 }\n\n",
            );
        }
        let leave = if i == 0 {
            "let Machine { state, mut counter } = self;\n            counter.steps += 1;"
        } else {
            "let Machine { state, counter } = self;"
        };
        let _ = writeln!(
            s,
            "        /// Takes `step_{i}` to `S{next}`.\n        \
             pub fn step_{i}(self, build: impl FnOnce(S{i}) -> S{next}) -> Machine<S{next}> {{\n            \
             {leave}\n            \
             Machine {{ state: build(state), counter }}\n        \
             }}"
        );
        if i != 0 {
            let _ = writeln!(
                s,
                "\n        /// Takes `reset` to `S0`.\n        \
                 pub fn reset(self, build: impl FnOnce(S{i}) -> S0) -> Machine<S0> {{\n            \
                 let Machine {{ state, counter }} = self;\n            \
                 Machine {{ state: build(state), counter }}\n        \
                 }}"
            );
        }
        let _ = writeln!(
            s,
            "    }}\n\n    \
             impl From<Machine<S{i}>> for AnyState {{\n        \
             fn from(machine: Machine<S{i}>) -> Self {{\n            \
             AnyState::S{i}(machine)\n        \
             }}\n    \
             }}\n"
        );
    }
    s.push_str("}\n\n");
    if walk {
        s.push_str(&walk_fn(n));
    }
    s
}

/// Once around the ring, then close: every `step_i` instantiated once.
fn walk_fn(n: usize) -> String {
    let mut s = String::from(
        "/// Goes once around the ring and returns the steps counted.\n\
         pub fn walk() -> u64 {\n    \
         let m = ring::Machine::start(ring::Counter { steps: 0 }, ring::S0 { n: 0 });\n",
    );
    for i in 0..n {
        let next = (i + 1) % n;
        let _ = writeln!(
            s,
            "    let m = m.step_{i}(|s| ring::S{next} {{ n: s.n + 1 }});"
        );
    }
    s.push_str("    m.close().steps\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_variants_parse_and_walk_the_same_ring() {
        for n in [2, 5] {
            let with_macro = syn::parse_file(&with_macro(n, true)).expect("macro variant parses");
            let by_hand = syn::parse_file(&by_hand(n, true)).expect("hand-written variant parses");
            let walk_of = |file: &syn::File| {
                file.items
                    .iter()
                    .find_map(|item| match item {
                        syn::Item::Fn(f) if f.sig.ident == "walk" => {
                            Some(quote::quote!(#f).to_string())
                        }
                        _ => None,
                    })
                    .expect("a walk function")
            };
            assert_eq!(walk_of(&with_macro), walk_of(&by_hand));
            for source in [super::with_macro(n, false), super::by_hand(n, false)] {
                assert!(!source.contains("fn walk"));
            }
        }
    }
}
