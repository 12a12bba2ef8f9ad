//! Rows as both backends return them, read into one shape and turned into
//! the domain's [`Operation`] in one place, one row at a time: a row that
//! cannot be read is that row's error, never its neighbours'.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use rocket::serde::json::serde_json;
use rocket::serde::json::Value;
use serde::Deserialize;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::types::Json;
use sqlx::{Decode, Postgres, Sqlite, Type};
use uuid::Uuid;

use super::db::{Record, Row};
use super::{PageKey, StoreError};
use crate::domain::Operation;

/// The columns an [`OperationRecord`] reads, in every statement that
/// returns operations.
pub(super) const COLUMNS: &str =
    "id, operation_type, status, result, error_message, error_code, attempts, progress, created_at, updated_at, owner, callback_url";

/// An `operations` row. JSON columns are JSONB on PostgreSQL and text on
/// SQLite, times TIMESTAMPTZ and RFC 3339 text (or SQLite's own
/// `YYYY-MM-DD HH:MM:SS`): they are read into the same types.
#[derive(sqlx::FromRow)]
pub(super) struct OperationRecord {
    id: StoredId,
    operation_type: String,
    status: String,
    result: Option<Json<Value>>,
    error_message: Option<String>,
    error_code: Option<String>,
    attempts: i32,
    progress: Option<Json<Value>>,
    created_at: StoredTime,
    updated_at: StoredTime,
    /// `''` for no one.
    owner: String,
    callback_url: Option<String>,
}

/// A row's id alone: what tells rows apart when the rest may not be
/// readable.
#[derive(sqlx::FromRow)]
struct IdRecord {
    id: StoredId,
}

/// What places a row in the order of lists.
#[derive(sqlx::FromRow)]
pub(super) struct PageKeyRecord {
    id: StoredId,
    created_at: StoredTime,
}

impl From<PageKeyRecord> for PageKey {
    fn from(record: PageKeyRecord) -> Self {
        PageKey {
            created_at: record.created_at.0,
            id: record.id.0,
        }
    }
}

/// A claimed row: the operation, and what its worker needs.
#[derive(sqlx::FromRow)]
pub(super) struct ClaimRecord {
    #[sqlx(flatten)]
    pub operation: OperationRecord,
    pub input: Json<Value>,
    pub claimed_by: String,
}

/// A row found by its idempotency key, with the digest of the request
/// that created it.
#[derive(sqlx::FromRow)]
pub(super) struct KeyRecord {
    #[sqlx(flatten)]
    pub operation: OperationRecord,
    pub request_hash: Option<String>,
}

/// `row` read as a `T`, or why it cannot be: the error names the row by
/// its id as text, which every row has, and the column.
pub(super) fn read<T: Record>(row: &Row) -> Result<T, StoreError> {
    row.decode::<T>().map_err(|error| {
        let column = match &error {
            sqlx::Error::ColumnDecode { index, .. } => index.trim_matches('"').to_owned(),
            _ => "(row)".to_owned(),
        };
        let id = row.id_text().unwrap_or_else(|| "(no id)".to_owned());
        StoreError::unreadable(id, &column, Arc::new(error))
    })
}

/// An operation read from `row`, or why it cannot be.
pub(super) fn operation(row: &Row) -> Result<Operation, StoreError> {
    read::<OperationRecord>(row).and_then(Operation::try_from)
}

/// The operations of `rows` by id, each read on its own: a row that cannot
/// be read is the answer for its id only (and a row without a readable id
/// is no answer).
pub(super) fn operations_by_id(rows: &[Row]) -> HashMap<Uuid, Result<Operation, StoreError>> {
    rows.iter()
        .filter_map(|row| {
            let id = row.decode::<IdRecord>().ok()?.id.0;
            Some((id, operation(row)))
        })
        .collect()
}

/// One element of the JSON text SQLite's [`find_many_as_json`] returns,
/// the array that `json_group_array(json_array(COLUMNS))` makes of the
/// rows it reads: a row's columns in the order of [`COLUMNS`].
///
/// [`find_many_as_json`]: super::statements::Statements::find_many_as_json
#[derive(Deserialize)]
struct JsonRecord<'a>(
    &'a str,
    String,
    &'a str,
    Option<String>,
    Option<String>,
    Option<String>,
    i32,
    Option<String>,
    &'a str,
    &'a str,
    String,
    Option<String>,
);

/// The operations of the one row a `find_many_as_json` returns, if every
/// row it holds is in the form the service writes (times in RFC 3339,
/// JSON columns as text, no column of another type): each read into
/// exactly what [`operation`] reads from that row. `None` leaves the rows
/// to be read one at a time, where a row in another form is read, or is
/// the error of its own read.
pub(super) fn operations_from_json(rows: &[Row]) -> Option<Vec<Operation>> {
    let [row] = rows else { return None };
    let records: Vec<JsonRecord> = serde_json::from_str(row.first_text()?).ok()?;
    records.into_iter().map(JsonRecord::read).collect()
}

impl JsonRecord<'_> {
    /// As [`operation`] reads the row, if it is in the service's form.
    fn read(self) -> Option<Operation> {
        let JsonRecord(
            id,
            operation_type,
            status,
            result,
            error_message,
            error_code,
            attempts,
            progress,
            created_at,
            updated_at,
            owner,
            callback_url,
        ) = self;
        let json = |text: Option<String>| text.map(|text| serde_json::from_str(&text).map(Json)).transpose();
        // sqlx tries RFC 3339 first, and reads such a time to the same UTC.
        let time =
            |text: &str| DateTime::parse_from_rfc3339(text).map(|time| StoredTime(time.with_timezone(&Utc)));
        let record = OperationRecord {
            id: StoredId(Uuid::try_parse(id).ok()?),
            operation_type,
            status: status.to_owned(),
            result: json(result).ok()?,
            error_message,
            error_code,
            attempts,
            progress: json(progress).ok()?,
            created_at: time(created_at).ok()?,
            updated_at: time(updated_at).ok()?,
            owner,
            callback_url,
        };
        Operation::try_from(record).ok()
    }
}

impl TryFrom<OperationRecord> for Operation {
    type Error = StoreError;

    fn try_from(row: OperationRecord) -> Result<Self, Self::Error> {
        let id = row.id.0;
        let unreadable = |column: &str, cause| StoreError::unreadable(id.to_string(), column, cause);
        Ok(Operation {
            id,
            status: row
                .status
                .parse()
                .map_err(|e| unreadable("status", Arc::new(e)))?,
            error_code: row
                .error_code
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| unreadable("error_code", Arc::new(e)))?,
            operation_type: row.operation_type,
            result: row.result.map(|json| json.0),
            error_message: row.error_message,
            attempts: row.attempts,
            progress: row.progress.map(|json| json.0),
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
            owner: Some(row.owner).filter(|owner| !owner.is_empty()),
            callback_url: row.callback_url,
        })
    }
}

/// An operation's id as each backend stores it: PostgreSQL's `uuid`,
/// SQLite's lowercase hyphenated text.
pub(super) struct StoredId(pub Uuid);

impl Type<Postgres> for StoredId {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for StoredId {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <Uuid as Decode<Postgres>>::decode(value).map(StoredId)
    }
}

impl Type<Sqlite> for StoredId {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'r> Decode<'r, Sqlite> for StoredId {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(StoredId(Uuid::try_parse(text)?))
    }
}

/// A time as each backend stores it. PostgreSQL's `timestamptz` may hold
/// `infinity` or times chrono cannot hold, which sqlx's own reading does
/// not survive (it panics): here they are an error of the row.
pub(super) struct StoredTime(pub DateTime<Utc>);

/// PostgreSQL counts its times in microseconds from 2000-01-01 UTC.
const POSTGRES_EPOCH_SECS: i64 = 946_684_800;

impl Type<Postgres> for StoredTime {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for StoredTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => {
                let micros = <i64 as Decode<Postgres>>::decode(value)?;
                micros
                    .checked_add(POSTGRES_EPOCH_SECS * 1_000_000)
                    .and_then(|since_1970| Utc.timestamp_micros(since_1970).single())
                    .map(StoredTime)
                    .ok_or_else(|| format!("a time out of range ({micros} µs from 2000)").into())
            }
            PgValueFormat::Text => {
                let text = value.as_str()?;
                let time = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")?;
                Ok(StoredTime(time.with_timezone(&Utc)))
            }
        }
    }
}

impl Type<Sqlite> for StoredTime {
    fn type_info() -> SqliteTypeInfo {
        <DateTime<Utc> as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <DateTime<Utc> as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for StoredTime {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <DateTime<Utc> as Decode<Sqlite>>::decode(value).map(StoredTime)
    }
}
