//! Every statement of the store, written once and rendered for the
//! backend when the store is made. Status changes come from the domain's
//! [`Transition`]s: a statement moves a row only from the statuses its
//! transition starts from, and a write of a worker only while its claim
//! holds.

use super::dialect::{applies, finished, literal, moves, unfinished, ColumnType, Dialect};
use super::record::COLUMNS;
use crate::config::Backend;
use crate::domain::{Status, Transition};

/// Written as the partial indexes by owner are: they hold only operations
/// that have an owner, and are used only by a statement that says so.
const OWNED: &str = "owner <> ''";

/// The statements of one backend.
pub(super) struct Statements {
    pub find: String,
    pub find_many: String,
    /// The same rows as one JSON text (see [`record::JsonRows`]), on
    /// SQLite only: its driver hands each row from the database's thread
    /// to the service's on its own, a switch between threads per row when
    /// many misses come at once; one row per batch is one switch. On
    /// PostgreSQL rows are read where they arrive.
    ///
    /// [`record::JsonRows`]: super::record::JsonRows
    pub find_many_as_json: Option<String>,
    pub find_by_idempotency_key: String,
    pub find_unfinished: String,
    pub find_finished_lately: String,
    pub count_unfinished_of_owner: String,
    pub insert: String,
    pub claim: String,
    pub fail_unreadable: String,
    pub renew: String,
    pub set_progress: String,
    pub complete: String,
    pub fail: String,
    pub retry_later: String,
    pub give_back: String,
    pub cancel: String,
    pub requeue_expired: String,
    pub fail_expired: String,
    pub delete_finished: String,
    pub count_by_status: String,
    pub ping: String,
}

/// The claim a worker's write of a single operation must still hold, at
/// parameters 1 (id), 2 (worker) and 3 (attempt).
fn claim_held(transition: Transition) -> String {
    format!(
        "id = $1 AND claimed_by = $2 AND attempts = $3 AND {}",
        applies(transition)
    )
}

/// The same for writes of many operations, against the table `v`.
fn claims_held(transition: Transition) -> String {
    format!(
        "id = v_id AND claimed_by = v_worker AND attempts = v_attempt AND {}",
        applies(transition)
    )
}

/// The columns that name claims in the writes of many operations.
const CLAIMS: [(&str, ColumnType); 3] = [
    ("v_id", ColumnType::Uuid),
    ("v_worker", ColumnType::Text),
    ("v_attempt", ColumnType::Int),
];

fn with_claims(more: &[(&'static str, ColumnType)]) -> Vec<(&'static str, ColumnType)> {
    CLAIMS.iter().chain(more).copied().collect()
}

/// A lease that ran out, or a processing row without one (left by another
/// program).
fn lease_expired(d: Dialect) -> String {
    format!("(lease_expires_at IS NULL OR lease_expires_at <= {})", d.now())
}

/// The attempts an operation has: its type's, where parameter 2 (a JSON
/// object by type) names it, else parameter 1.
fn max_attempts_of_type(d: Dialect) -> String {
    format!("COALESCE({}, $1)", d.json_member_int("$2", "operation_type"))
}

impl Statements {
    pub fn new(d: Dialect) -> Self {
        let now = d.now();
        let sql = |text: String| d.finish(&text);
        Statements {
            find: sql(format!("SELECT {COLUMNS} FROM operations WHERE id = $1")),
            find_many: sql(format!(
                "SELECT {COLUMNS} FROM operations WHERE id IN (SELECT v_id FROM {})",
                d.rows_of(1, &[("v_id", ColumnType::Uuid)])
            )),
            find_many_as_json: match d.0 {
                Backend::Sqlite => Some(sql(format!(
                    "SELECT json_group_array(json_array({COLUMNS})) FROM operations
                     WHERE id IN (SELECT v_id FROM {})",
                    d.rows_of(1, &[("v_id", ColumnType::Uuid)])
                ))),
                Backend::Postgres => None,
            },
            // Each status alone, the condition of a partial index
            // (`operations_claimable`, `operations_leases`): neither backend
            // scans the table.
            find_unfinished: sql(format!(
                "SELECT {COLUMNS} FROM operations WHERE status = {}
                 UNION ALL SELECT {COLUMNS} FROM operations WHERE status = {} LIMIT $1",
                literal(Status::Pending),
                literal(Status::Processing),
            )),
            find_finished_lately: sql(format!(
                "SELECT {COLUMNS} FROM operations WHERE {} AND updated_at >= {}
                 ORDER BY updated_at DESC LIMIT $2",
                finished(),
                d.now_plus("$1"),
            )),
            find_by_idempotency_key: sql(format!(
                "SELECT {COLUMNS}, request_hash FROM operations WHERE owner = $1 AND idempotency_key = $2"
            )),
            count_unfinished_of_owner: sql(format!(
                "SELECT count(*) FROM operations WHERE owner = $1 AND {OWNED} AND {}",
                unfinished()
            )),
            // SQLite reads `ON CONFLICT` after a bare `FROM` as a join
            // constraint: the `WHERE true` ends the SELECT.
            insert: sql(format!(
                "INSERT INTO operations (id, operation_type, status, input, idempotency_key, request_hash, owner,
                                         callback_url)
                 SELECT v_id, v_type, {pending}, v_input, v_key, v_hash, v_owner, v_callback FROM {rows} WHERE true
                 ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                 RETURNING {COLUMNS}",
                pending = literal(Status::Pending),
                rows = d.rows_of(
                    1,
                    &[
                        ("v_id", ColumnType::Uuid),
                        ("v_type", ColumnType::Text),
                        ("v_input", ColumnType::Json),
                        ("v_key", ColumnType::Text),
                        ("v_hash", ColumnType::Text),
                        ("v_owner", ColumnType::Text),
                        ("v_callback", ColumnType::Text),
                    ]
                ),
            )),
            // The rows are picked once, in a materialized CTE: as an `IN`
            // subquery, PostgreSQL may run it again for each row it updates,
            // and with SKIP LOCKED each run picks other rows. The picked
            // rows are pending and locked (on SQLite, the one writer holds
            // them), so the UPDATE finds them by id alone: a status
            // condition there would let PostgreSQL, whose statistics often
            // say that almost nothing is pending, walk the whole pending
            // index for each claim (40 ms with 16,000 pending, against 1 ms).
            claim: sql(format!(
                "WITH due AS MATERIALIZED (
                     SELECT id FROM operations
                      WHERE {applies} AND available_at <= {now}
                      ORDER BY created_at, id LIMIT $3 {skip_locked})
                 UPDATE operations
                    SET {moves}, attempts = {one_more_attempt}, claimed_by = $1,
                        lease_expires_at = {lease_end}, updated_at = {now}
                  WHERE id IN (SELECT id FROM due)
                 RETURNING {COLUMNS}, input, claimed_by",
                moves = moves(Transition::Claim),
                applies = applies(Transition::Claim),
                lease_end = d.now_plus("$2"),
                skip_locked = d.skip_locked(),
                one_more_attempt = d.one_more_attempt(),
            )),
            // By the id and worker alone: the attempts may be what could
            // not be read.
            fail_unreadable: sql(format!(
                "UPDATE operations
                    SET {}, error_code = $3, error_message = $4, lease_expires_at = NULL, updated_at = {now}
                  WHERE id = {} AND claimed_by = $2 AND {}
                 RETURNING {}",
                moves(Transition::Fail),
                d.id_from_text("$1"),
                applies(Transition::Fail),
                d.id_as_text("id"),
            )),
            renew: sql(format!(
                "UPDATE operations SET lease_expires_at = {} WHERE {} RETURNING id",
                d.now_plus("$4"),
                claim_held(Transition::Complete),
            )),
            set_progress: sql(format!(
                "UPDATE operations SET progress = $4, updated_at = {now} WHERE {} RETURNING {COLUMNS}",
                claim_held(Transition::Complete),
            )),
            complete: sql(format!(
                "UPDATE operations
                    SET {}, result = v_result, lease_expires_at = NULL, updated_at = {now}
                   FROM {}
                  WHERE {}
                 RETURNING {COLUMNS}",
                moves(Transition::Complete),
                d.rows_of(1, &with_claims(&[("v_result", ColumnType::Json)])),
                claims_held(Transition::Complete),
            )),
            fail: sql(format!(
                "UPDATE operations
                    SET {}, error_code = v_code, error_message = v_message, lease_expires_at = NULL,
                        updated_at = {now}
                   FROM {}
                  WHERE {}
                 RETURNING {COLUMNS}",
                moves(Transition::Fail),
                d.rows_of(
                    1,
                    &with_claims(&[("v_code", ColumnType::Text), ("v_message", ColumnType::Text)])
                ),
                claims_held(Transition::Fail),
            )),
            retry_later: sql(format!(
                "UPDATE operations
                    SET {}, available_at = {}, lease_expires_at = NULL, updated_at = {now}
                   FROM {}
                  WHERE {}
                 RETURNING {COLUMNS}",
                moves(Transition::RetryLater),
                d.now_plus("v_delay"),
                d.rows_of(1, &with_claims(&[("v_delay", ColumnType::Float)])),
                claims_held(Transition::RetryLater),
            )),
            // The interrupted attempt is handed back: the worker stopped,
            // the operation did not fail.
            give_back: sql(format!(
                "UPDATE operations
                    SET {}, attempts = attempts - 1, available_at = {now}, lease_expires_at = NULL,
                        updated_at = {now}
                  WHERE {}
                 RETURNING {COLUMNS}",
                moves(Transition::GiveBack),
                claim_held(Transition::GiveBack),
            )),
            cancel: sql(format!(
                "UPDATE operations
                    SET {}, error_code = $2, error_message = $3, lease_expires_at = NULL, updated_at = {now}
                  WHERE id = $1 AND {}
                 RETURNING {COLUMNS}",
                moves(Transition::Cancel),
                applies(Transition::Cancel),
            )),
            requeue_expired: sql(format!(
                "UPDATE operations SET {}, lease_expires_at = NULL, updated_at = {now}
                  WHERE {} AND {} AND attempts < {}
                 RETURNING {}",
                moves(Transition::RequeueExpired),
                applies(Transition::RequeueExpired),
                lease_expired(d),
                max_attempts_of_type(d),
                d.id_as_text("id"),
            )),
            fail_expired: sql(format!(
                "UPDATE operations
                    SET {}, error_code = $3, error_message = $4, lease_expires_at = NULL, updated_at = {now}
                  WHERE {} AND {} AND attempts >= {}
                 RETURNING {}",
                moves(Transition::FailExpired),
                applies(Transition::FailExpired),
                lease_expired(d),
                max_attempts_of_type(d),
                d.id_as_text("id"),
            )),
            // In batches, so that a large backlog never holds the write lock
            // (SQLite) or many row locks (PostgreSQL) long. An operation
            // whose webhooks are not all delivered yet is kept; its
            // deliveries go with it (ON DELETE CASCADE).
            delete_finished: sql(format!(
                "WITH expired AS MATERIALIZED (
                     SELECT id FROM operations
                      WHERE {} AND updated_at < {}
                        AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.operation_id = operations.id)
                        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                         WHERE d.operation_id = operations.id AND d.state = 'pending')
                      LIMIT $2 {})
                 DELETE FROM operations WHERE id IN (SELECT id FROM expired)
                 RETURNING {}",
                finished(),
                d.now_plus("$1"),
                d.skip_locked(),
                d.id_as_text("id"),
            )),
            count_by_status: "SELECT status, count(*) FROM operations GROUP BY status".to_owned(),
            ping: "SELECT 1".to_owned(),
        }
    }
}

/// Which rows a page of a list holds, as parameters of [`list`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct ListShape {
    pub owner: bool,
    pub status: bool,
    pub operation_type: bool,
    pub created_after: bool,
    pub created_before: bool,
    /// After the row a previous page ended with.
    pub after_row: bool,
}

/// A page of operations, newest first, keyed by `(created_at, id)`: each
/// filter present is a parameter, in the order of [`ListShape`]'s fields,
/// the row to continue after two (its time and id), and the page's size
/// the last. Built per request from the filters given, so that each shape
/// is a plain index range on either backend.
pub(super) fn list(d: Dialect, shape: ListShape) -> String {
    let mut terms = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if shape.owner {
        terms.push(format!("owner = {} AND {OWNED}", next()));
    }
    if shape.status {
        terms.push(format!("status = {}", next()));
    }
    if shape.operation_type {
        terms.push(format!("operation_type = {}", next()));
    }
    if shape.created_after {
        terms.push(format!("created_at > {}", next()));
    }
    if shape.created_before {
        terms.push(format!("created_at < {}", next()));
    }
    if shape.after_row {
        let (time, id) = (next(), next());
        terms.push(format!("(created_at, id) < ({time}, {id})"));
    }
    let filter = match terms.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", terms.join(" AND ")),
    };
    d.finish(&format!(
        "SELECT {COLUMNS} FROM operations {filter} ORDER BY created_at DESC, id DESC LIMIT {}",
        next()
    ))
}
