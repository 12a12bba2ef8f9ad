//! How many files (connections included) the process may hold open, as
//! the system says at start. Rocket 0.5 offers no cap on connections nor a
//! timeout for idle ones, so the limit that does exist is the system's:
//! it is logged at start, for the reverse proxy's connection limit to stay
//! below it (see the README's deployment section).

use std::fs;

/// Below this, a few thousand slow clients could use up the process.
const LOW: u64 = 4096;

/// The soft and hard limit of open files, where the system tells them
/// (Linux's `/proc/self/limits`).
fn limits() -> Option<(Option<u64>, Option<u64>)> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|line| line.starts_with("Max open files"))?;
    let mut values = line["Max open files".len()..].split_whitespace();
    let number = |value: Option<&str>| value.and_then(|v| v.parse().ok());
    Some((number(values.next()), number(values.next())))
}

/// Logs the limit, and warns when it is low.
pub fn log_limits() {
    let Some((soft, hard)) = limits() else { return };
    match soft {
        Some(soft) if soft < LOW => tracing::warn!(
            soft,
            hard,
            "process.open_files_limit is low: every connection holds a file; raise it (LimitNOFILE) or cap connections at the proxy"
        ),
        _ => tracing::info!(soft, hard, "process.open_files_limit"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_is_read_where_the_system_tells_it() {
        if std::path::Path::new("/proc/self/limits").exists() {
            let (soft, _) = super::limits().unwrap_or((None, None));
            assert!(soft.is_some_and(|soft| soft > 0));
        }
    }
}
