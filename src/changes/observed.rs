use std::sync::Arc;

use crate::domain::{Operation, Representation};

/// An operation as polls and events send it: its ETag and body, and
/// whether it is finished. Read once per change, shared by every poll and
/// waiter that wants it. ETag and body are one allocation, the only one an
/// operation held in memory needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The ETag, then the body.
    text: Arc<str>,
    etag_len: usize,
    finished: bool,
    /// Whom polls may send it to (see [`Caller`](crate::auth::Caller)).
    owner: Option<Arc<str>>,
}

impl Observed {
    pub fn new(operation: &Operation) -> Self {
        let Representation { body, etag } = operation.representation();
        let etag_len = etag.len();
        let mut text = etag;
        text.push_str(&body);
        Observed {
            text: Arc::from(text),
            etag_len,
            finished: operation.status.is_finished(),
            owner: operation.owner.as_deref().map(Arc::from),
        }
    }

    /// Quoted, as the `ETag` header carries it.
    pub fn etag(&self) -> &str {
        &self.text[..self.etag_len]
    }

    pub fn body(&self) -> &str {
        &self.text[self.etag_len..]
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }
}
