//! The stock SCIM handler as the component the host bundles: the `scim-guest` library's
//! [`Profile::STOCK`](scim_guest::Profile::STOCK), exported with the allocator and the
//! `memcmp` a one-call instance wants. They live here, not in the library, so that a
//! plugin linking `scim-guest` gets neither unless it chooses to.
//!
//! Built for `wasm32-unknown-unknown`, whose standard library imports nothing, and made a
//! component by the host's build script: the component imports the directory alone, no
//! WASI, so its instances are linked with fewer imports and it holds no ambient authority.

#![warn(missing_docs)]

pub mod arena;
pub mod memcmp;

/// Each call runs in a fresh instance: see [`arena`].
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: arena::Arena = arena::Arena::new();

#[cfg(target_arch = "wasm32")]
scim_guest::export_profile!(scim_guest::Profile::STOCK);
