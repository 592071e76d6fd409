//! The end-to-end tests, one binary: each module is a concern of the product (its doc says
//! which), all against the harness of `scim_host_e2e`. One binary links the host once
//! rather than once per file: minutes of linking and gigabytes of disk in CI.

mod bounds;
mod bulk;
mod concurrency;
mod console;
mod diagnostics;
mod dialects;
mod errors;
mod events;
mod hosts;
mod isolation;
mod limits;
mod listing;
mod membership;
mod modules;
mod observability;
mod organizations;
mod passwords;
mod placement;
mod plugin;
mod quickstart;
mod realm_move;
mod realms;
mod rerun;
mod settings;
mod tokens;
mod upsert;
mod webhooks;
