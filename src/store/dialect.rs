//! What differs between the SQL of SQLite and of PostgreSQL, each piece
//! named. Statements are written once, with PostgreSQL's `$1` placeholders
//! and these pieces; [`Dialect::finish`] makes them SQLite's where needed.

use crate::config::Backend;
use crate::domain::{Status, Transition};

/// The SQL of one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dialect(pub Backend);

/// The type of a column of values bound as one parameter (see
/// [`Dialect::rows_of`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum ColumnType {
    Uuid,
    Text,
    Int,
    BigInt,
    Float,
    /// JSON, bound as its text.
    Json,
}

impl Dialect {
    /// The statement as this backend takes it: SQLite numbers its
    /// parameters `?1`, `?2`…
    pub fn finish(self, sql: &str) -> String {
        match self.0 {
            Backend::Postgres => sql.to_owned(),
            Backend::Sqlite => numbered_as_sqlite(sql),
        }
    }

    /// The current time, as the backend stores times: SQLite's text is
    /// RFC 3339 in UTC with milliseconds, which sorts as time does.
    pub fn now(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "now()",
            Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        }
    }

    /// The current time plus `seconds` (an expression: a parameter or a
    /// column; negative goes back).
    pub fn now_plus(self, seconds: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("now() + make_interval(secs => {seconds})"),
            Backend::Sqlite => {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('%+.3f seconds', {seconds}))")
            }
        }
    }

    /// Seconds from the time `expr` to now, as a float (NULL for NULL).
    pub fn seconds_since(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("EXTRACT(EPOCH FROM now() - {expr})::float8"),
            Backend::Sqlite => format!("(julianday('now') - julianday({expr})) * 86400.0"),
        }
    }

    /// The whole number the JSON object `object` (a parameter) holds under
    /// the key `key` (an expression); NULL where it holds none. Looked up
    /// among the members rather than by a JSON path, which a key another
    /// program wrote could make malformed.
    pub fn json_member_int(self, object: &str, key: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("(SELECT m.value::bigint FROM jsonb_each_text(({object})::jsonb) AS m WHERE m.key = {key})")
            }
            Backend::Sqlite => format!("(SELECT m.value FROM json_each({object}) AS m WHERE m.key = {key})"),
        }
    }

    /// Locks the rows a subquery picks so that other processes skip them;
    /// SQLite has one writer at a time and needs nothing.
    pub fn skip_locked(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// `attempts + 1`, staying within the column's type: a row another
    /// program left at the maximum is claimed like any other rather than
    /// failing every claim with an overflow.
    pub fn one_more_attempt(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "LEAST(attempts, 2147483646) + 1",
            Backend::Sqlite => "min(attempts + 1, 2147483647)",
        }
    }

    /// An id given as text (`param`), as the column takes it: a row's id
    /// as it was read, which on SQLite may not be a UUID.
    pub fn id_from_text(self, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{param}::uuid"),
            Backend::Sqlite => param.to_owned(),
        }
    }

    /// The id in `column` as text, named `id`, for rows whose id may not
    /// be a UUID (SQLite rows written by another program).
    pub fn id_as_text(self, column: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{column}::text AS id"),
            Backend::Sqlite => format!("{column} AS id"),
        }
    }

    /// A table `v` of rows, one per value of columns bound as parameters
    /// `$first`, `$first + 1`…, each a list of values of one column (see
    /// [`Column`](super::db::Column)): PostgreSQL unnests arrays, SQLite
    /// walks the first JSON array and reads the others at its indexes. The columns are named as given (prefix them with
    /// `v_`, so that they never clash with the table's own).
    pub fn rows_of(self, first: usize, columns: &[(&str, ColumnType)]) -> String {
        let numbered = || columns.iter().enumerate().map(|(i, column)| (first + i, column));
        match self.0 {
            Backend::Postgres => {
                let arrays: Vec<String> = numbered()
                    .map(|(n, (_, kind))| {
                        let array = match kind {
                            ColumnType::Uuid => "uuid[]",
                            ColumnType::Text | ColumnType::Json => "text[]",
                            ColumnType::Int => "int4[]",
                            ColumnType::BigInt => "int8[]",
                            ColumnType::Float => "float8[]",
                        };
                        format!("${n}::{array}")
                    })
                    .collect();
                let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
                let selected: Vec<String> = columns
                    .iter()
                    .map(|(name, kind)| match kind {
                        ColumnType::Json => format!("{name}::jsonb AS {name}"),
                        _ => (*name).to_owned(),
                    })
                    .collect();
                format!(
                    "(SELECT {} FROM UNNEST({}) AS u({})) AS v",
                    selected.join(", "),
                    arrays.join(", "),
                    names.join(", ")
                )
            }
            // One walk of the first column, the others read by index: a
            // join of one json_each per column on their keys leaves SQLite's
            // planner free to pick an order that rescans every column for
            // every row (seconds, for 40 rows of 7 columns).
            Backend::Sqlite => {
                let selected: Vec<String> = numbered()
                    .map(|(n, (name, _))| match n == first {
                        true => format!("c.value AS {name}"),
                        false => format!("json_extract(${n}, '$[' || c.key || ']') AS {name}"),
                    })
                    .collect();
                format!(
                    "(SELECT {} FROM json_each(${first}) AS c) AS v",
                    selected.join(", ")
                )
            }
        }
    }
}

/// `status = 'to', progress = NULL`: what a transition sets. Progress
/// belongs to the attempt that reported it, and no attempt runs in the
/// status a transition arrives at.
pub(super) fn moves(transition: Transition) -> String {
    format!("status = {}, progress = NULL", literal(transition.to()))
}

/// `status = 'from'` or `status IN ('from', …)`: the rows a transition
/// applies to.
pub(super) fn applies(transition: Transition) -> String {
    status_in(transition.from())
}

/// `status IN (…)` of the finished statuses.
pub(super) fn finished() -> String {
    let finished: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_finished()).collect();
    status_in(&finished)
}

/// `status IN (…)` of the statuses not finished yet.
pub(super) fn unfinished() -> String {
    let unfinished: Vec<Status> = Status::ALL.into_iter().filter(|s| !s.is_finished()).collect();
    status_in(&unfinished)
}

pub(super) fn literal(status: Status) -> String {
    format!("'{}'", status.as_str())
}

/// Written as the partial indexes of the migrations are (`status =
/// 'pending'`, `status IN ('completed', 'failed')`): SQLite uses such an
/// index only for a term of the same form.
fn status_in(statuses: &[Status]) -> String {
    match statuses {
        [one] => format!("status = {}", literal(*one)),
        many => {
            let literals: Vec<String> = many.iter().map(|s| literal(*s)).collect();
            format!("status IN ({})", literals.join(", "))
        }
    }
}

/// `$12` → `?12`; a `$` not followed by a digit is left alone.
fn numbered_as_sqlite(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('$', Some(next)) if next.is_ascii_digit() => out.push('?'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_numbers_parameters_with_question_marks() {
        assert_eq!(
            numbered_as_sqlite("a = $1 AND b = $12 AND c = '$x'"),
            "a = ?1 AND b = ?12 AND c = '$x'"
        );
    }

    #[test]
    fn transitions_render_the_domain_table() {
        assert_eq!(applies(Transition::Cancel), "status IN ('pending', 'processing')");
        assert_eq!(moves(Transition::Cancel), "status = 'failed', progress = NULL");
        assert_eq!(applies(Transition::Claim), "status = 'pending'");
        assert_eq!(finished(), "status IN ('completed', 'failed')");
    }
}
