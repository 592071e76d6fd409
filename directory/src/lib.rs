//! The identity store's contract, shaped like Keycloak's: users, groups, memberships,
//! organizations, attributes, structured queries and admin events as plain Rust records,
//! and the [`Directory`] trait over them. It is the Rust face of the WIT `directory`
//! interface: the guest's WIT adapter, the in-memory directory and every host store
//! implement the one trait, so the two sides of the sandbox speak the same types and
//! only the WIT crossing converts. Nothing here knows SCIM, SQL or WIT.
//!
//! Features: `memory` adds [`memory::MemoryDirectory`], a directory held in memory (the
//! reference the stores are held to, and the double of unit tests and benchmarks);
//! `conformance` adds the store conformance suite every implementation must pass.

#![warn(missing_docs)]

mod contract;
mod records;

pub use contract::*;
pub use records::*;

#[cfg(feature = "memory")]
pub mod memory;

#[cfg(feature = "conformance")]
pub mod conformance;
