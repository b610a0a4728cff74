//! agree-sql's integration tests, one binary: each linked test binary carries all of
//! DataFusion and Ballista (hundreds of MB in a debug build), so the files are modules
//! of one crate rather than seven binaries.

mod crosscheck;
mod hand_built;
mod identity;
mod memory_limit;
mod queries;
mod reliability;
mod slt;
