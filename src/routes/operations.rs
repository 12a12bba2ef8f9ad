use rocket::serde::json::Json;
use rocket::serde::uuid::Uuid;
use rocket::{Route, State};

use crate::domain::Operation;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;

pub fn routes() -> Vec<Route> {
    rocket::routes![get_operation]
}

/// A path segment the `Uuid` guard read. The guard's failure is taken here
/// rather than forwarded: a forward would end at the file server mounted on
/// `/`, whose 404 would hide that the id, not the path, was wrong.
type OperationIdParam = Result<Uuid, uuid::Error>;

fn operation_id(param: OperationIdParam) -> ApiResult<Uuid> {
    param.map_err(|_| ApiError::InvalidOperationId)
}

/// The operation's current state. Never writes.
#[rocket::get("/api/v1/operations/<operation_id>")]
async fn get_operation(operation_id: OperationIdParam, store: &State<Store>) -> ApiResult<Json<Operation>> {
    let id = self::operation_id(operation_id)?;
    store.find(id).await?.map(Json).ok_or(ApiError::OperationNotFound)
}
