//! scim-host: a multi-tenant SCIM 2.0 server whose SCIM logic runs as WebAssembly
//! components. This crate owns HTTP, tenants, authentication, the identity store,
//! transactions, limits and the wasm runtime; the SCIM protocol lives in the guest.

pub mod app;
pub mod auth;
pub mod bindings;
pub mod call;
pub mod changes;
pub mod config;
pub mod credentials;
pub mod diagnostics;
pub mod hosts;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod modules;
pub mod retention;
pub mod runtime;
pub mod store;
pub mod tenants;
pub mod webhooks;
pub mod write_plan;
pub mod write_turns;

pub use app::{App, Server};
pub use config::Config;
