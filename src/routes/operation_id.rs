use rocket::serde::uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// A path segment the `Uuid` guard read. The guard's failure is taken here
/// rather than forwarded: a forward would end at the file server mounted on
/// `/`, whose 404 would hide that the id, not the path, was wrong.
pub(super) type OperationIdParam = Result<Uuid, uuid::Error>;

pub(super) fn parse_operation_id(param: OperationIdParam) -> ApiResult<Uuid> {
    param.map_err(|_| ApiError::InvalidOperationId)
}
