//! The streams a session's server side cancelled, remembered so that what the client sent on
//! them before it saw the cancel is dropped quietly.

use foldhash::HashSet;
use std::collections::VecDeque;
use std::sync::Arc;

/// How many server-cancelled streams a session remembers, as River's TypeScript server does
/// per client; the oldest is forgotten first.
pub const CANCELLED_STREAMS_REMEMBERED: usize = 200;

/// A bounded set of stream ids; adding one beyond the bound forgets the one added (or added
/// again) longest ago.
#[derive(Debug)]
pub(super) struct CancelledStreams {
    ids: HashSet<Arc<str>>,
    /// Oldest first.
    order: VecDeque<Arc<str>>,
    bound: usize,
}

impl CancelledStreams {
    pub(super) fn new(bound: usize) -> Self {
        CancelledStreams {
            ids: HashSet::default(),
            order: VecDeque::new(),
            bound,
        }
    }

    pub(super) fn insert(&mut self, id: Arc<str>) {
        if self.ids.contains(&id) {
            self.order.retain(|other| *other != id);
        } else if self.ids.len() >= self.bound
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        if self.bound > 0 {
            self.ids.insert(Arc::clone(&id));
            self.order.push_back(id);
        }
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_forgotten_first_and_adding_again_refreshes() {
        let mut set = CancelledStreams::new(3);
        for id in ["a", "b", "c"] {
            set.insert(Arc::from(id));
        }
        set.insert(Arc::from("a"));
        set.insert(Arc::from("d"));
        let held: Vec<bool> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| set.contains(id))
            .collect();
        assert_eq!(held, [true, false, true, true]);
        assert_eq!((set.ids.len(), set.order.len()), (3, 3));
        let mut none = CancelledStreams::new(0);
        none.insert(Arc::from("a"));
        assert!(!none.contains("a"));
    }
}
