use chrono::{DateTime, Utc};
use rocket::serde::json::Json;
use rocket::serde::Serialize;
use rocket::State;

use super::page_token;
use crate::auth::{AuthFailure, Caller};
use crate::domain::{Operation, Status};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::handlers::InvalidInput;
use crate::operations::Operations;
use crate::rate_limit::{Polling, Within};
use crate::store::ListQuery;

/// The page size when none is asked for, and the largest allowed.
const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;

/// The longest text filter, in characters.
const LONGEST_FILTER: usize = 1024;

/// A page of a list.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde")]
pub(crate) struct OperationsPage {
    /// Newest first.
    operations: Vec<Operation>,
    /// Pass as `page_token`, with the same filters, for the next page;
    /// null on the last page.
    next_page_token: Option<String>,
}

/// The caller's operations (an admin's: everyone's), newest first, a page
/// at a time. Pages are keyed on creation time and id, so operations
/// created while a client pages through neither repeat nor push others
/// out. Exists in jwt mode, and in none mode only with
/// `list_in_none_mode`.
#[utoipa::path(
    get,
    path = "/api/v1/operations",
    tag = "operations",
    params(
        ("status" = Option<Status>, Query, description = "Only operations in this status."),
        ("operation_type" = Option<String>, Query, max_length = 1024, description = "Only operations of this type."),
        ("created_after" = Option<DateTime<Utc>>, Query, description = "Only operations created after this time (RFC 3339)."),
        ("created_before" = Option<DateTime<Utc>>, Query, description = "Only operations created before this time (RFC 3339)."),
        ("owner" = Option<String>, Query, max_length = 1024, description = "Only this owner's operations (an owner lists only their own: another owner's name gives an empty page)."),
        ("page_size" = Option<u32>, Query, minimum = 1, description = "Operations per page: 20 when not given, at most 100 (a larger size is taken as 100)."),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page, with the same filters."),
    ),
    responses(
        (status = 200, description = "A page of operations, newest first.", body = OperationsPage),
        (status = 400, description = "INVALID_PAGE_TOKEN: not a token this list gave, or given with other filters", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED (jwt mode): no valid bearer token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 422, description = "INVALID_INPUT: a filter or page_size that does not fit, named", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "OPERATION_UNREADABLE or INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::get("/api/v1/operations?<status>&<operation_type>&<created_after>&<created_before>&<owner>&<page_size>&<page_token>")]
pub(crate) async fn list_operations(
    _limit: Within<Polling>,
    caller: Result<Caller, AuthFailure>,
    status: Vec<&str>,
    operation_type: Vec<&str>,
    created_after: Vec<&str>,
    created_before: Vec<&str>,
    owner: Vec<&str>,
    page_size: Vec<&str>,
    page_token: Vec<&str>,
    operations: &State<Operations>,
) -> ApiResult<Json<OperationsPage>> {
    let caller = caller?;
    let status = once("status", status)?;
    let operation_type = once("operation_type", operation_type)?;
    let created_after = once("created_after", created_after)?;
    let created_before = once("created_before", created_before)?;
    let owner = once("owner", owner)?;
    let page_size = once("page_size", page_size)?;
    let page_token = once("page_token", page_token)?;
    let status = status
        .map(|s| {
            s.parse::<Status>().map_err(|_| {
                InvalidInput::new("status", "must be one of pending, processing, completed, failed")
            })
        })
        .transpose()?;
    let operation_type = operation_type
        .map(|t| text_filter("operation_type", t))
        .transpose()?;
    let owner = owner.map(|o| text_filter("owner", o)).transpose()?;
    let created_after = created_after
        .map(|t| time_filter("created_after", t))
        .transpose()?;
    let created_before = created_before
        .map(|t| time_filter("created_before", t))
        .transpose()?;
    let page_size = match page_size {
        None => DEFAULT_PAGE_SIZE,
        // As AIP-158 has it: a size above the largest is served as the
        // largest, not refused. Sizes are 32-bit, as the document says.
        Some(size) => size
            .parse::<i32>()
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .map(|n| n.min(MAX_PAGE_SIZE))
            .ok_or_else(|| {
                InvalidInput::new(
                    "page_size",
                    format!("must be a whole number, 1 or more (above {MAX_PAGE_SIZE} is taken as {MAX_PAGE_SIZE})"),
                )
            })?,
    };
    // An owner lists their own operations only.
    let (owner, other_owner) = match &caller {
        Caller::Owner(sub) => (Some(&**sub), owner.is_some_and(|o| o != &**sub)),
        Caller::Admin(_) | Caller::Anyone => (owner, false),
    };
    let scope = match &caller {
        Caller::Anyone => "anyone".to_owned(),
        Caller::Admin(sub) => format!("admin:{sub}"),
        Caller::Owner(sub) => format!("owner:{sub}"),
    };
    let created_after_text = created_after.map(|t| t.to_rfc3339());
    let created_before_text = created_before.map(|t| t.to_rfc3339());
    let filters = page_token::filters_digest(&[
        Some(&scope),
        owner,
        status.map(Status::as_str),
        operation_type,
        created_after_text.as_deref(),
        created_before_text.as_deref(),
    ]);
    let after = page_token
        .map(|token| page_token::decode(token, &filters).ok_or(ApiError::InvalidPageToken))
        .transpose()?;
    if other_owner {
        return Ok(Json(OperationsPage {
            operations: Vec::new(),
            next_page_token: None,
        }));
    }
    let query = ListQuery {
        owner,
        status,
        operation_type,
        created_after,
        created_before,
        after,
        limit: page_size + 1,
    };
    let mut rows = operations.list(&query).await?;
    let more = rows.len() > page_size as usize;
    rows.truncate(page_size as usize);
    let next_page_token = match more {
        true => {
            let last = rows.iter().rev().find_map(|row| row.key);
            Some(page_token::encode(
                last.ok_or(ApiError::OperationUnreadable)?,
                &filters,
            ))
        }
        false => None,
    };
    Ok(Json(OperationsPage {
        operations: rows.into_iter().filter_map(|row| row.operation.ok()).collect(),
        next_page_token,
    }))
}

/// A parameter given at most once. (Taken as a list: Rocket would read
/// one given twice as not given at all.)
fn once<'a>(name: &str, values: Vec<&'a str>) -> Result<Option<&'a str>, InvalidInput> {
    match values.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(InvalidInput::new(name, "must be given at most once")),
    }
}

/// A text filter: neither database stores U+0000, and nothing longer than
/// [`LONGEST_FILTER`] is worth a query.
fn text_filter<'a>(name: &str, value: &'a str) -> Result<&'a str, InvalidInput> {
    match value.contains('\0') || value.chars().count() > LONGEST_FILTER {
        true => Err(InvalidInput::new(
            name,
            format!("must be at most {LONGEST_FILTER} characters, without U+0000"),
        )),
        false => Ok(value),
    }
}

fn time_filter(name: &str, value: &str) -> Result<DateTime<Utc>, InvalidInput> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| InvalidInput::new(name, "must be a time in RFC 3339, e.g. 2026-01-31T12:00:00Z"))
}
