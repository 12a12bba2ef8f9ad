//! The operation and the rules of its life.

mod error_code;
mod operation;
mod status;

pub use error_code::ErrorCode;
pub use operation::{Operation, ProgressReport, Representation};
pub use status::{Status, UnknownStatus};
