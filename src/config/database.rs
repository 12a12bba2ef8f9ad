//! `databases.operations`: where the operations live. The URL's scheme
//! picks the backend; anything else is refused at start-up.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::str::FromStr;

use rocket::figment::providers::Serialized;
use rocket::figment::Figment;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::InvalidSetting;

/// The key of the database's settings, as rocket_db_pools reads them.
pub const KEY: &str = "databases.operations";

/// The database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The pool size when none is set. SQLite writes one at a time and
    /// polls' reads are gathered, so a few connections serve it, each with
    /// its own thread and page cache; PostgreSQL serves more at once.
    pub fn default_pool_size(self) -> usize {
        match self {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        }
    }
}

/// The database settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSettings {
    pub backend: Backend,
    /// As rocket_db_pools reads them, every default filled in.
    pub pool: rocket_db_pools::Config,
}

const ACCEPTED_URLS: &str =
    "sqlite://PATH (a file, created with its directory when missing) or postgres://USER@HOST[:PORT]/DATABASE";

impl DatabaseSettings {
    pub(super) fn load(figment: &Figment) -> Result<Self, InvalidSetting> {
        let section = figment.focus(KEY);
        let under_key = |e: rocket::figment::Error| InvalidSetting::from(e).under(KEY);
        let url: String = section.extract_inner("url").map_err(under_key)?;
        let backend = backend_of(&url)?;
        let pool: rocket_db_pools::Config = section
            .join(Serialized::default(
                "max_connections",
                backend.default_pool_size(),
            ))
            .extract()
            .map_err(under_key)?;
        match backend {
            Backend::Sqlite => check_sqlite(&pool.url)?,
            Backend::Postgres => check_postgres(&pool.url)?,
        }
        if pool.max_connections == 0 {
            return Err(InvalidSetting::new(
                format!("{KEY}.max_connections"),
                "0",
                "a whole number greater than 0",
            ));
        }
        Ok(DatabaseSettings { backend, pool })
    }
}

fn backend_of(url: &str) -> Result<Backend, InvalidSetting> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(invalid_url(url, ACCEPTED_URLS.to_owned()))
    }
}

/// The URL must name a file the service can create and write: an
/// in-memory database would be one per connection of the pool.
fn check_sqlite(url: &str) -> Result<(), InvalidSetting> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(invalid_url(
            url,
            "a file; an in-memory database would not be shared by the pool's connections".to_owned(),
        ));
    }
    let options = SqliteConnectOptions::from_str(url).map_err(|e| invalid_url(url, e.to_string()))?;
    let file = options.get_filename();
    writable(&file).map_err(|reason| invalid_url(url, reason))
}

/// Creates the file and its directory if missing, as the pool would.
fn writable(file: &Path) -> Result<(), String> {
    if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| {
            format!(
                "a path where the directory can be created ({}: {e})",
                dir.display()
            )
        })?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map(drop)
        .map_err(|e| {
            format!(
                "a file the service can create and write ({}: {e})",
                file.display()
            )
        })
}

fn check_postgres(url: &str) -> Result<(), InvalidSetting> {
    PgConnectOptions::from_str(url)
        .map(drop)
        .map_err(|e| invalid_url(url, format!("{ACCEPTED_URLS} ({e})")))
}

fn invalid_url(url: &str, accepted: String) -> InvalidSetting {
    InvalidSetting::new(format!("{KEY}.url"), format!("{:?}", redacted(url)), accepted)
}

/// The URL without its password, which has no place in a message.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend_and_any_other_is_refused() {
        assert_eq!(backend_of("sqlite://data/x.db").ok(), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://u@h/db").ok(), Some(Backend::Postgres));
        assert_eq!(backend_of("postgresql://u@h/db").ok(), Some(Backend::Postgres));
        let refused = backend_of("mysql://x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("databases.operations.url"), "{refused}");
        assert!(refused.contains("\"mysql://x\""), "{refused}");
        assert!(refused.contains("sqlite://PATH"), "{refused}");
    }

    #[test]
    fn a_password_never_appears_in_the_message() {
        assert_eq!(redacted("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn an_in_memory_sqlite_database_is_refused() {
        assert!(check_sqlite("sqlite::memory:").is_err());
    }
}
