//! scim-host: a multi-tenant SCIM 2.0 server whose SCIM logic runs as WebAssembly
//! components. This crate owns HTTP, tenants, authentication, the identity store,
//! transactions, limits and the wasm runtime; the SCIM protocol lives in the guest.

pub mod store;
