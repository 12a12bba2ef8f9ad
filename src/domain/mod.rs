//! The operation and the rules of its life.

mod operation;
mod status;

pub use operation::Operation;
pub use status::{Status, UnknownStatus};
