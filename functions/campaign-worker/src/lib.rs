//! The campaign worker: runs message campaigns in short slices from the campaign queue (and,
//! on a schedule, gives a job to campaigns whose job was lost).

pub mod config;
pub mod handler;
