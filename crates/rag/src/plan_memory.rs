//! What [`SearchPlan::Auto`](crate::SearchPlan::Auto) decided, remembered for a short time.
//!
//! The decision depends on the space's size and on the parent filter's, both of which change
//! slowly, while reading them costs every search a plan row (a catalog lookup, or a bounded
//! count): 0.1 to 0.4 ms on a 2.4 ms search of a 100k space on the bench. So the first search
//! of a space (and parent filter) runs the self-deciding statement and reports which branch
//! ran; the searches that follow within [`AUTO_PLAN_MEMORY`] send that branch alone.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::vector_table::{Distance, IndexStorage, VectorTable};

/// How long [`SearchPlan::Auto`](crate::SearchPlan::Auto) keeps a decision (per process,
/// organization, table, space, distance, storage and parent filter) before the statement decides
/// again: a space that crosses [`AUTO_EXACT_SPACE_ROWS`](crate::AUTO_EXACT_SPACE_ROWS) (or a
/// parent that crosses [`AUTO_EXACT_PARENT_ROWS`](crate::AUTO_EXACT_PARENT_ROWS)) is searched
/// the old way for at most this long. The choice changes speed, never the rows a search may
/// see. [`forget_plan_choices`] drops them all at once (after a bulk load, say).
pub const AUTO_PLAN_MEMORY: Duration = Duration::from_secs(30);

/// Decisions kept at most; when full, expired ones are dropped, and if none is, all are.
const CAPACITY: usize = 4_096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PlanKey {
    pub(crate) organization: String,
    pub(crate) table: VectorTable,
    pub(crate) space: String,
    pub(crate) distance: Distance,
    pub(crate) storage: IndexStorage,
    /// Each parent filter's column and value, in the filter's order.
    pub(crate) parents: Vec<(&'static str, String)>,
}

static MEMORY: LazyLock<Mutex<HashMap<PlanKey, (bool, Instant)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether the remembered decision for `key` was the exact scan; `None` when there is none
/// younger than [`AUTO_PLAN_MEMORY`].
pub(crate) fn recall(key: &PlanKey) -> Option<bool> {
    // A poisoned lock only means another thread panicked mid-insert: the map is still a map.
    let memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    memory
        .get(key)
        .filter(|(_, at)| at.elapsed() < AUTO_PLAN_MEMORY)
        .map(|(exact, _)| *exact)
}

/// Remembers that the statement chose the exact scan (`true`) or the index for `key`.
pub(crate) fn remember(key: PlanKey, exact: bool) {
    let mut memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    if memory.len() >= CAPACITY && !memory.contains_key(&key) {
        memory.retain(|_, (_, at)| at.elapsed() < AUTO_PLAN_MEMORY);
        if memory.len() >= CAPACITY {
            memory.clear();
        }
    }
    memory.insert(key, (exact, Instant::now()));
}

/// Drops every decision [`SearchPlan::Auto`](crate::SearchPlan::Auto) remembers in this
/// process, so the next search of each space decides again from the database (after a bulk
/// load or a delete that moves a space across [`AUTO_EXACT_SPACE_ROWS`](crate::AUTO_EXACT_SPACE_ROWS)).
pub fn forget_plan_choices() {
    MEMORY.lock().unwrap_or_else(|e| e.into_inner()).clear();
}
