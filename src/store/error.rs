use std::sync::Arc;

/// Why the store could not answer. Cheap to clone: one failed query can be
/// the answer of many reads gathered into it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is too busy; retrying later helps.
    #[error("the database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),
    /// The database has no room left to write; nothing of the write was
    /// kept.
    #[error("the database's storage is full")]
    StorageFull(#[source] Arc<sqlx::Error>),
    /// The database refused or failed a statement.
    #[error("a statement failed")]
    Statement(#[source] Arc<sqlx::Error>),
    /// A row holds what the service cannot read (written by another
    /// program). Only that row is affected.
    #[error("operation {id}: unreadable {column}")]
    Unreadable {
        /// As the row holds it, which may not be a UUID.
        id: String,
        column: String,
        #[source]
        cause: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The database answered what the statement cannot return.
    #[error("the database answered unexpectedly: {0}")]
    Unexpected(&'static str),
    /// A task of the store is gone (the service is stopping).
    #[error("the store's {0} has stopped")]
    Stopped(&'static str),
}

impl StoreError {
    /// No connection could be had: whatever the cause, retrying later helps.
    pub(super) fn unavailable(error: sqlx::Error) -> Self {
        StoreError::Unavailable(Arc::new(error))
    }

    /// The row `id` holds in `column` what cannot be read, for `cause`.
    pub(super) fn unreadable(
        id: String,
        column: &str,
        cause: Arc<dyn std::error::Error + Send + Sync>,
    ) -> Self {
        StoreError::Unreadable {
            id,
            column: column.to_owned(),
            cause,
        }
    }
}

/// What a statement met, by what it is.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let unavailable = match &error {
            sqlx::Error::Database(db) => match db.code() {
                Some(code) if is_storage_full_code(&code) => return StoreError::StorageFull(Arc::new(error)),
                code => code.is_some_and(|code| is_unavailable_code(&code)),
            },
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            _ => false,
        };
        match unavailable {
            true => StoreError::Unavailable(Arc::new(error)),
            false => StoreError::Statement(Arc::new(error)),
        }
    }
}

/// PostgreSQL: disk_full (53100). SQLite: FULL (13), by primary code.
fn is_storage_full_code(code: &str) -> bool {
    code == "53100" || code.parse::<i32>().is_ok_and(|extended| extended & 0xff == 13)
}

/// PostgreSQL: connection exceptions (08), insufficient resources (53),
/// shutdown and cannot-connect-now (57P0x), a database that does not exist
/// (3D000) or allows no connections (55000). SQLite: BUSY (5), LOCKED (6),
/// IOERR (10), CANTOPEN (14), by primary code, since SQLite reports
/// extended codes.
fn is_unavailable_code(code: &str) -> bool {
    if code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P0")
        || code == "3D000"
        || code == "55000"
    {
        return true;
    }
    code.parse::<i32>()
        .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6 | 10 | 14))
}

#[cfg(test)]
mod tests {
    use super::{is_storage_full_code, is_unavailable_code};

    #[test]
    fn a_full_disk_is_told_apart() {
        for code in ["53100", "13"] {
            assert!(is_storage_full_code(code), "{code}");
        }
        for code in ["53300", "5", "14", "23505"] {
            assert!(!is_storage_full_code(code), "{code}");
        }
    }

    #[test]
    fn connection_and_busy_codes_mean_unavailable() {
        for code in [
            "08006", "08001", "57P01", "57P03", "53300", "3D000", "55000", "5", "517", "6", "14", "266",
        ] {
            assert!(is_unavailable_code(code), "{code}");
        }
    }

    #[test]
    fn constraint_and_syntax_codes_are_not_unavailability() {
        for code in ["23505", "42601", "22P02", "19", "1", "2067"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
    }
}
