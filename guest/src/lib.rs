//! The stock SCIM 2.0 handler of scim-host, as a plain library.
//!
//! [`handle`] answers one SCIM request against a [`Directory`]. The same code runs
//! natively (unit tests, benchmarks, `scim_directory::memory::MemoryDirectory`) and inside the wasm
//! component, where `component.rs` implements [`Directory`] with the host's imports.
//! It knows nothing of SQL, sockets, tenants or tokens.

#![warn(missing_docs)]

pub mod bulk;
pub mod context;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod group_body;
pub mod groups;
pub mod handler;
pub mod http;
pub mod listing;
pub mod patch;
pub mod profile;
pub mod projection;
pub mod render;
pub mod schema;
pub mod search;
pub mod settings;
pub mod time;
pub mod users;

#[cfg(target_arch = "wasm32")]
pub mod component;

pub use context::Scope;
pub use directory::Directory;
pub use handler::{handle, handle_with};
pub use http::{Request, Response};
pub use profile::Profile;
/// The identity store's contract, as the SCIM logic sees it.
pub use scim_directory as directory;
/// The JSON library the hooks and schemas speak: a plugin needs no dependency of its own.
pub use serde_json;

// The bindings name this crate by its path, from inside it as from a plugin's export.
#[cfg(target_arch = "wasm32")]
extern crate self as scim_guest;
pub use settings::{Config, Settings};
