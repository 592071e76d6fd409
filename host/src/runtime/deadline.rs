//! A guest call's deadline, kept everywhere the call can spend time: in its own code (the
//! epoch callback), in WASI's blocking calls (`wasi:io/poll`, which the epoch cannot
//! interrupt: a guest asleep in `poll` runs no wasm), and in the store (the store's
//! transaction interrupts its statements at the same instant).
//!
//! A call that holds the store's one writer has a shorter cut-off: the realm's write hold
//! after it took the writer, and [`WRITER_IDLE`] of CPU after its last directory call, so
//! that a guest that writes and then loops delays the other realms' writes by that much,
//! not by its whole deadline.

use crate::bindings::CallState;
use std::time::Instant;
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::poll::DynPollable;

/// How much CPU a call that holds the store's writer may use outside the store: every
/// realm's writes wait meanwhile. A write call renders its answer in a few milliseconds
/// after its last directory call; one that loops there is cut. (CPU time, not wall time:
/// on a busy machine a call may wait for a core, and is not cut for that. One that
/// sleeps holding the writer is cut by its write hold.)
pub const WRITER_IDLE: std::time::Duration = std::time::Duration::from_millis(50);

/// Marks a call stopped at its cut-off (in WASI, or by the epoch callback).
#[derive(Debug, thiserror::Error)]
#[error("the call ran past its deadline")]
pub struct PastDeadline;

/// `wasi:io/poll` for a guest: WASI's own, bounded by the call's cut-off.
pub struct BoundedPoll<'a> {
    table: &'a mut ResourceTable,
    cutoff: Instant,
}

/// Selects [`BoundedPoll`] as the data of the `wasi:io/poll` bindings.
pub struct HasBoundedPoll;

impl HasData for HasBoundedPoll {
    type Data<'a> = BoundedPoll<'a>;
}

/// A call's `wasi:io/poll`.
pub fn bounded_poll(state: &mut CallState) -> BoundedPoll<'_> {
    // Asleep, a long call runs nothing: its turn on the cores goes to the next.
    state.permit = None;
    let cutoff = state.cutoff();
    BoundedPoll { table: &mut state.table, cutoff }
}

/// Runs one of WASI's futures until the cut-off, and traps past it.
fn until<T>(cutoff: Instant, future: impl Future<Output = wasmtime::Result<T>>) -> wasmtime::Result<T> {
    let cutoff = tokio::time::Instant::from_std(cutoff);
    wasmtime_wasi::runtime::in_tokio(async { tokio::time::timeout_at(cutoff, future).await })
        .map_err(|_| wasmtime::Error::new(PastDeadline))?
}

impl sync_poll::Host for BoundedPoll<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        until(self.cutoff, async_poll::Host::poll(self.table, pollables))
    }
}

impl sync_poll::HostPollable for BoundedPoll<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        until(self.cutoff, async_poll::HostPollable::ready(self.table, pollable))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        until(self.cutoff, async_poll::HostPollable::block(self.table, pollable))
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}
