//! `manifest.json`: what was ingested, from where, and how many of each. The typed
//! manifest lives in agree-schema, so that every stage reads it with one implementation.

pub use agree_schema::{Manifest, SourceInfo};
