//! `max_unfinished_per_owner`: how many operations one owner may have
//! pending or processing. An owner's creates take turns in this process
//! (count, then insert), so that a burst of concurrent creates cannot all
//! pass on one count. Processes sharing a database do not take turns with
//! each other: there the limit may be passed by as many creates as run at
//! the same moment in the other processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rocket::tokio::sync::{Mutex as Turn, OwnedMutexGuard};

use crate::error::{ApiError, ApiResult};
use crate::operations::Operations;

type Turns = Arc<Mutex<HashMap<Arc<str>, Arc<Turn<()>>>>>;

pub(crate) struct UnfinishedQuota {
    max: u64,
    retry_after_secs: u64,
    turns: Turns,
}

/// An owner's turn to create, held until the create is written.
pub(crate) struct Admitted {
    owner: Arc<str>,
    turn: Option<OwnedMutexGuard<()>>,
    turns: Turns,
}

impl UnfinishedQuota {
    pub fn new(max: u64, retry_after_secs: u64) -> Self {
        UnfinishedQuota {
            max,
            retry_after_secs,
            turns: Arc::default(),
        }
    }

    /// Lets one more create of `owner` through, or 429
    /// `TOO_MANY_OPERATIONS`.
    pub async fn admit(&self, owner: &str, operations: &Operations) -> ApiResult<Admitted> {
        let owner: Arc<str> = Arc::from(owner);
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(turns.entry(Arc::clone(&owner)).or_default())
        };
        let admitted = Admitted {
            turn: Some(turn.lock_owned().await),
            owner,
            turns: Arc::clone(&self.turns),
        };
        let stored = operations.count_unfinished_of(&admitted.owner).await?;
        match u64::try_from(stored).unwrap_or(0) < self.max {
            true => Ok(admitted),
            false => Err(ApiError::TooManyOperations {
                max: self.max,
                retry_after_secs: self.retry_after_secs,
            }),
        }
    }
}

impl Drop for Admitted {
    /// Ends the turn, and forgets the owner when nobody waits for one.
    fn drop(&mut self) {
        drop(self.turn.take());
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        if turns
            .get(&self.owner)
            .is_some_and(|turn| Arc::strong_count(turn) == 1)
        {
            turns.remove(&self.owner);
        }
    }
}
