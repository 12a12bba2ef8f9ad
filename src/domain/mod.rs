//! The operation and the rules of its life: its statuses and the moves
//! between them, why it fails, and what a running handler reports. Below
//! everything else; imports nothing of the service.

mod error_code;
mod handler_error;
mod operation;
mod progress;
mod status;

pub use error_code::{ErrorCode, UnknownErrorCode};
pub use handler_error::HandlerError;
pub use operation::{Operation, Representation};
pub use progress::{Progress, ProgressReport};
pub use status::{Status, Transition, UnknownStatus};
