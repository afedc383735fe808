//! Runs the model checker on one configuration and prints what it found.
//!
//! ```sh
//! cargo run --release -p statebound-model --example check -- [rust|python] [ci|large] [small] [forgetting] [refuse-ended] [refuse-ahead] [paths] [dfs] [threads=N]
//! ```

use std::time::Instant;

use statebound_model::state::Event;
use statebound_model::{ClientKind, Config, ResumeModel};
use stateright::{Checker, Model};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |word: &str| args.iter().any(|a| a == word);
    let client = if has("python") {
        ClientKind::Python
    } else {
        ClientKind::Rust
    };
    let mut config = if has("large") {
        Config::large(client)
    } else {
        Config::ci(client)
    };
    if has("small") {
        config.client_sends = 1;
    }
    config.server_forgets = has("forgetting");
    config.refuse_ended_sessions = has("refuse-ended");
    config.refuse_client_ahead_of_server = has("refuse-ahead");
    let threads = args
        .iter()
        .find_map(|a| a.strip_prefix("threads=")?.parse().ok())
        .unwrap_or(1);
    println!("{config:?}, {threads} thread(s)");
    let started = Instant::now();
    let builder = ResumeModel::new(config).checker().threads(threads);
    // Depth first holds far fewer states in memory; breadth first finds shortest paths.
    let checker: Box<dyn Checker<ResumeModel>> = if has("dfs") {
        Box::new(builder.spawn_dfs().join())
    } else {
        Box::new(builder.spawn_bfs().join())
    };
    let elapsed = started.elapsed();
    println!(
        "{} states ({} unique), max depth {}, in {:.1} s",
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth(),
        elapsed.as_secs_f64()
    );
    let mut names: Vec<_> = checker.discoveries().into_keys().collect();
    names.sort_unstable();
    for name in names {
        let kind = checker.discovery_classification(name);
        let path = checker.discovery(name).expect("listed");
        println!(
            "{kind}: {name} ({} steps)",
            path.clone().into_actions().len()
        );
        if has("paths") && kind.to_string() == "counterexample" {
            for action in path.clone().into_actions() {
                println!("    {action:?}");
            }
            println!("    => {:#?}", path.last_state());
        }
    }
    for event in Event::ALL {
        if checker.model().reached(event) {
            println!("reached: {event:?}");
        }
    }
    for transition in checker.model().coverage().taken() {
        println!(
            "took {} --{}--> {}",
            transition.from, transition.name, transition.to
        );
    }
}
