//! One transition of the River graph (with a handle minted and checked in every state) against
//! a hand-written enum and match doing the same work, handles from a generation counter. Each
//! round times both back to back; the ratio of the two in a round is what is reported, as
//! median (min-max).
//!
//! `cargo bench -p statebound-bench --bench transition`

use statebound_bench::{graph_transitions, hand_written_transitions};

mod timing;

fn main() {
    let n = 200_000;
    timing::compare(
        "transition, statebound vs hand-written",
        n,
        || graph_transitions(n),
        || hand_written_transitions(n),
    );
}
