//! The wasm runtime: one `Engine` (pooling allocator, epoch interruption), compiled
//! modules shared by content hash, and [`Runtime::call`], which runs one `handle` call in
//! a fresh instance with a memory cap and a deadline.
//!
//! A guest that traps, loops or eats memory ends its own call and nothing else: the
//! caller gets a [`CallError`] and rolls the call's transaction back.

mod deadline;
mod long_calls;

pub use deadline::{PastDeadline, WRITER_IDLE};
pub use long_calls::{LongCall, LongCalls, Permit, thread_cpu_time};

use crate::bindings::{CallState, Rerun, ScimHandlerPre, types};
use crate::store::{Deadline, Transaction};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

/// How often the epoch advances: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(5);
/// The most guest memory any realm may be given.
pub const MAX_GUEST_MEMORY: usize = 1 << 30;

/// Sizes of the instance pool.
#[derive(Clone, Copy, Debug)]
pub struct PoolSize {
    /// Guest calls that may run at once; further calls wait for a slot.
    pub concurrent_calls: u32,
}

impl Default for PoolSize {
    fn default() -> Self {
        PoolSize { concurrent_calls: 64 }
    }
}

/// The limits of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// The most linear memory the guest may grow to.
    pub memory_bytes: usize,
    /// Wall-clock time the guest may run.
    pub deadline: Duration,
    /// How long the call may hold the store's writer, from when it takes it.
    pub write_hold: Duration,
}

/// A compiled guest, ready to instantiate; shared by every realm that runs the same bytes.
pub struct Module {
    /// Hex SHA-256 of the component's bytes.
    pub digest: String,
    /// The component itself, kept to store it when a realm moves away from it.
    pub bytes: Arc<[u8]>,
    pre: ScimHandlerPre<CallState>,
}

/// Why a call produced no response.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the guest ran past its deadline of {0:?}")]
    Deadline(Duration),
    /// The realm began cooling down while the call ran.
    #[error("the realm is cooling down: its calls kept running into their deadline or memory limit")]
    CoolingDown,
    #[error("the guest needed more than its memory limit of {} MiB", .0 / (1 << 20))]
    Memory(usize),
    #[error("the guest trapped: {0}")]
    Trap(String),
    /// The store hit a transient conflict; roll back and run again.
    #[error("{0}")]
    Rerun(String),
    #[error("the host could not run the guest: {0}")]
    Host(String),
}

/// Linear memory a pool slot keeps mapped between calls (reset page by page).
const KEEP_RESIDENT: usize = 2 << 20;

/// The wasm engine and everything compiled with it.
pub struct Runtime {
    engine: Engine,
    /// Where compiled components are kept, by content hash and engine configuration.
    cache_dir: Option<std::path::PathBuf>,
    /// Components compiled by Cranelift since start (not read from the cache).
    compilations: std::sync::atomic::AtomicUsize,
    linker: Linker<CallState>,
    /// Modules by digest: realms running the same bytes share one compilation. Weak: a
    /// module no realm runs any more is dropped with its last call (a later load reads
    /// its compiled code back from the disk cache).
    modules: Mutex<HashMap<String, Weak<Module>>>,
    stop_ticker: Arc<std::sync::atomic::AtomicBool>,
    /// One permit per instance slot of the pool, shared by every server on this runtime:
    /// calls beyond the pool wait for a slot instead of failing to instantiate.
    slots: Arc<tokio::sync::Semaphore>,
    /// The cores that calls running longer than a SCIM call should share.
    long_calls: Arc<LongCalls>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Tracks a guest's memory against its cap.
pub struct MemoryCap {
    limit: usize,
    /// Whether the guest asked for more than `limit`.
    pub exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A component's digest: the hex SHA-256 of its bytes, by which it is kept and named.
pub fn digest_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    /// An engine with a pool sized for `pool` and a ticker thread driving deadlines.
    /// `cache_dir`, when given, keeps compiled code on disk so that a restart (or another
    /// process on the same data directory) compiles nothing it compiled before.
    pub fn new(pool: PoolSize, cache_dir: Option<std::path::PathBuf>) -> wasmtime::Result<Self> {
        let mut pooling = PoolingAllocationConfig::new();
        let calls = pool.concurrent_calls.max(1);
        pooling
            .total_component_instances(calls)
            .total_core_instances(calls * 8)
            .total_memories(calls * 2)
            .total_tables(calls * 4)
            .max_memories_per_component(2)
            .max_memory_size(MAX_GUEST_MEMORY)
            // Reset linear memory without madvise where the kernel allows: PAGEMAP_SCAN
            // (Linux 6.7+) finds the pages a call dirtied and only those are restored, up
            // to the keep-resident size; beyond it, madvise. Under load, every madvise
            // flushed the TLB of every core by IPI (15% of a GET's profile); a memset of
            // the whole region regardless of use measured slower single-threaded (45 µs
            // per call with 1 MiB against 28 µs with madvise).
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(1 << 16);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling))
            .epoch_interruption(true)
            .wasm_component_model(true)
            .max_wasm_stack(1 << 20);
        // `SCIM_HOST_PERFMAP=1` names the guests' compiled functions for `perf`
        // (in /tmp/perf-PID.map), so a profile of the server shows inside the sandbox.
        if std::env::var_os("SCIM_HOST_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).context("configuring the wasm engine")?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).context("linking WASI")?;
        // WASI's `poll`, bounded by the call's deadline, in place of the one above.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::sync::io::poll::add_to_linker::<CallState, deadline::HasBoundedPoll>(
            &mut linker,
            deadline::bounded_poll,
        )
        .context("linking WASI's poll")?;
        linker.allow_shadowing(false);
        crate::bindings::ScimHandler::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)
            .context("linking the directory")?;

        let stop_ticker = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (weak_engine, stop) = (engine.weak(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .context("starting the epoch ticker")?;
        let slots = Arc::new(tokio::sync::Semaphore::new(calls as usize));
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(Runtime {
            engine,
            cache_dir,
            compilations: Default::default(),
            linker,
            modules: Mutex::new(HashMap::new()),
            stop_ticker,
            slots,
            long_calls: LongCalls::for_this_machine(),
        })
    }

    /// Waits for a free instance slot; the call holds it until the permit is dropped.
    pub async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.slots.clone().acquire_owned().await.expect("the slot semaphore is never closed")
    }

    /// Compiles a component (or returns the one already compiled from the same bytes) and
    /// checks that it implements the `scim-handler` world.
    pub fn load(&self, bytes: &[u8]) -> wasmtime::Result<Arc<Module>> {
        let digest = digest_of(bytes);
        if let Some(module) = self.modules.lock().expect("module table").get(&digest).and_then(Weak::upgrade) {
            return Ok(module);
        }
        let component = self.compile(&digest, bytes)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .context("the component imports something the host does not provide")?;
        let pre = ScimHandlerPre::new(instance_pre).context("the component does not export scim:host/handler@0.1.0")?;
        let module = Arc::new(Module { digest: digest.clone(), bytes: bytes.into(), pre });
        let mut modules = self.modules.lock().expect("module table");
        modules.retain(|_, m| m.strong_count() > 0);
        modules.insert(digest, Arc::downgrade(&module));
        Ok(module)
    }

    /// How many components Cranelift compiled since start (cache hits excluded).
    pub fn compilations(&self) -> usize {
        self.compilations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many distinct modules are loaded (held by a realm or a running call).
    pub fn loaded_modules(&self) -> usize {
        self.modules.lock().expect("module table").values().filter(|m| m.strong_count() > 0).count()
    }

    /// The component for these bytes: from the on-disk cache when it holds code compiled
    /// by an engine like this one, else compiled (and kept there).
    fn compile(&self, digest: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
        let cached = self.cache_dir.as_ref().map(|dir| {
            use std::hash::{Hash, Hasher};
            let mut engine = std::collections::hash_map::DefaultHasher::new();
            self.engine.precompile_compatibility_hash().hash(&mut engine);
            dir.join(format!("{digest}-{:016x}.cwasm", engine.finish()))
        });
        if let Some(path) = cached.as_ref().filter(|p| p.exists()) {
            // SAFETY: the file was written by `precompile_component` of an engine with the
            // same compatibility hash, into the operator's own data directory.
            match unsafe { Component::deserialize_file(&self.engine, path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "recompiling a cached module that does not load: {e:?}")
                }
            }
        }
        self.compilations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(path) = cached else {
            return Component::new(&self.engine, bytes).context("compiling the component");
        };
        let compiled = self.engine.precompile_component(bytes).context("compiling the component")?;
        let partial = path.with_extension("partial");
        if let Err(e) = std::fs::write(&partial, &compiled).and_then(|()| std::fs::rename(&partial, &path)) {
            tracing::warn!(path = %path.display(), "cannot keep compiled code: {e}");
        }
        // SAFETY: these bytes were just produced by this engine's `precompile_component`.
        unsafe { Component::deserialize(&self.engine, &compiled) }
    }

    /// Runs one `handle` call in a fresh instance. The transaction comes back with the
    /// response, for the caller to commit; on any error it is dropped, which rolls back.
    pub fn call(
        &self,
        module: &Module,
        mut transaction: Box<dyn Transaction>,
        limits: CallLimits,
        input: &CallInput<'_>,
    ) -> Result<CallOutcome, CallError> {
        let deadline = Deadline { at: std::time::Instant::now() + limits.deadline, write_hold: limits.write_hold };
        transaction.set_deadline(deadline);
        let state = CallState {
            deadline,
            cpu_at_start: thread_cpu_time(),
            cpu_after_last_directory_call: thread_cpu_time(),
            long_calls: self.long_calls.clone(),
            permit: None,
            long: None,
            limiter: input.limiter.clone(),
            transaction: Some(transaction),
            rerun: false,
            last_conflict: None,
            memory: MemoryCap { limit: limits.memory_bytes.min(MAX_GUEST_MEMORY), exceeded: false },
            wasi: wasmtime_wasi::WasiCtx::builder().build(),
            table: ResourceTable::new(),
        };
        let _running = self.long_calls.running();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        // Every tick, the guest's code checks its cut-off (which comes sooner once it holds
        // the store's writer) and the CPU it used: holding the writer, since its last
        // directory call returned; else, past its grace, it takes its turn on the long
        // calls' cores.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            let state = store.data_mut();
            let (now, cutoff, cpu) = (std::time::Instant::now(), state.cutoff(), thread_cpu_time());
            if now >= cutoff {
                return Err(PastDeadline.into());
            }
            if state.limiter.as_ref().is_some_and(|l| l.cooling()) {
                return Err(long_calls::CutForCoolDown.into());
            }
            if state.writer_since().is_some() {
                state.permit = None;
                if cpu.saturating_sub(state.cpu_after_last_directory_call) >= WRITER_IDLE {
                    return Err(PastDeadline.into());
                }
            } else if cpu.saturating_sub(state.cpu_at_start) >= long_calls::GRACE {
                state.long.get_or_insert_with(|| state.long_calls.mark_long());
                let turn_over =
                    state.permit.as_ref().is_some_and(|p| now.duration_since(p.since) >= long_calls::QUANTUM);
                if turn_over && state.long_calls.short_calls_running() {
                    // Short calls are waiting for a core: step aside for a while.
                    state.permit = None;
                    std::thread::sleep(long_calls::STEP_ASIDE.min(cutoff.saturating_duration_since(now)));
                } else if turn_over && state.long_calls.contended() {
                    state.permit = None;
                }
                if state.permit.is_none() {
                    // The realm's limiter tells realms apart: turns go round them.
                    let realm = state.limiter.as_ref().map_or(0, |l| Arc::as_ptr(l) as usize);
                    state.permit = Some(state.long_calls.take(realm, cutoff).ok_or(PastDeadline)?);
                }
            }
            Ok(wasmtime::UpdateDeadline::Continue(1))
        });

        let bindings = match module.pre.instantiate(&mut store) {
            Ok(bindings) => bindings,
            Err(error) => return Err(CallError::Host(format!("instantiating the guest: {error:#}"))),
        };
        let result = bindings.scim_host_handler().call_handle(&mut store, input.scope, input.config, input.request);
        let state = store.data_mut();
        match result {
            Ok(response) => Ok(CallOutcome {
                response,
                transaction: state.transaction.take().expect("the transaction stays until the call ends"),
                conflict: state.last_conflict.take(),
            }),
            Err(error) => Err(classify(error, state, limits)),
        }
    }
}

/// What a `handle` call receives.
pub struct CallInput<'a> {
    pub scope: &'a types::Scope,
    pub config: &'a types::Config,
    pub request: &'a types::Request,
    /// The realm's admission: a call of a realm that starts cooling down is cut.
    pub limiter: Option<Arc<crate::limits::RealmLimiter>>,
}

/// A guest's response, with the transaction it ran in.
pub struct CallOutcome {
    pub response: types::Response,
    pub transaction: Box<dyn Transaction>,
    /// The last uniqueness conflict the store reported during the call.
    pub conflict: Option<(String, String)>,
}

fn classify(error: wasmtime::Error, state: &CallState, limits: CallLimits) -> CallError {
    if state.rerun {
        return CallError::Rerun(error.downcast_ref::<Rerun>().map(|r| r.0.clone()).unwrap_or_default());
    }
    if state.memory.exceeded {
        return CallError::Memory(limits.memory_bytes);
    }
    if error.is::<PastDeadline>() {
        return CallError::Deadline(limits.deadline);
    }
    if error.is::<long_calls::CutForCoolDown>() {
        return CallError::CoolingDown;
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => CallError::Deadline(limits.deadline),
        Some(trap) => CallError::Trap(format!("{trap}")),
        None => CallError::Trap(format!("{error:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_code_is_reused_from_disk_by_a_new_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("compiled");
        let first = Runtime::new(PoolSize { concurrent_calls: 1 }, Some(cache.clone())).unwrap();
        let module = first.load(crate::tenants::BUNDLED_GUEST).unwrap();
        assert_eq!(first.compilations(), 1);
        first.load(crate::tenants::BUNDLED_GUEST).unwrap();
        assert_eq!(first.compilations(), 1, "one compilation per distinct module");
        let kept: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].to_string_lossy().starts_with(&module.digest));

        let second = Runtime::new(PoolSize { concurrent_calls: 1 }, Some(cache)).unwrap();
        second.load(crate::tenants::BUNDLED_GUEST).unwrap();
        assert_eq!(second.compilations(), 0, "a restart compiles nothing");
    }

    #[test]
    fn bundled_guest_holds_no_ambient_authority() {
        let runtime = Runtime::new(PoolSize { concurrent_calls: 1 }, None).unwrap();
        let component = Component::new(&runtime.engine, crate::tenants::BUNDLED_GUEST).unwrap();
        let imports: Vec<String> =
            component.component_type().imports(&runtime.engine).map(|(name, _)| name.to_string()).collect();
        assert!(imports.iter().any(|name| name.starts_with("scim:host/directory@")), "{imports:?}");
        assert!(
            imports.iter().all(|name| name.starts_with("scim:host/")),
            "the stock component imports nothing but the contract (no WASI: no clocks, random, \
             environment or streams): {imports:?}"
        );
    }

    #[test]
    fn a_module_no_one_holds_is_dropped_and_comes_back_from_the_disk_cache() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(PoolSize { concurrent_calls: 1 }, Some(dir.path().to_path_buf())).unwrap();
        let module = runtime.load(crate::tenants::BUNDLED_GUEST).unwrap();
        assert_eq!(runtime.loaded_modules(), 1);
        drop(module);
        assert_eq!(runtime.loaded_modules(), 0, "no realm runs it: evicted");
        runtime.load(crate::tenants::BUNDLED_GUEST).unwrap();
        assert_eq!(runtime.compilations(), 1, "loaded again from the compiled cache, not recompiled");
    }
}
