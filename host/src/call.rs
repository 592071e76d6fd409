//! The call pipeline: one SCIM request's guest call, from admission to commit. [`run`]
//! reads top to bottom: admission, the plan (begin as a read or as a write), a write turn
//! and an instance slot, then on a blocking thread the transaction, the guest call, the
//! commit, and a rerun after a transient conflict. The host reads no SCIM here: a call is
//! a method, a path and a body handed to the tenant's module, and its transaction.

use crate::app::App;
use crate::bindings::types;
use crate::http::RequestId;
use crate::http::error::ScimError;
use crate::limits::Refusal;
use crate::metrics::{FailureLabels, RealmLabels};
use crate::runtime::{CallError, CallInput, CallLimits, CallOutcome};
use crate::store::Store as _;
use crate::store::{Access, DirectoryError, OrganizationScoped, Transaction};
use crate::tenants::Tenant;
use crate::write_plan::Kind;
use crate::write_turns::{Turn, WriteTurns};
use axum::http::{StatusCode, header};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

/// How many times a call runs when the store keeps reporting transient conflicts.
const MAX_ATTEMPTS: u32 = 5;

/// One request's call, before its body is read.
pub struct Call {
    pub app: Arc<App>,
    pub tenant: Arc<Tenant>,
    pub request_id: RequestId,
    pub scope: types::Scope,
}

/// Runs the call: admits it to its realm, reads its request (`request`, which reads the
/// body within the realm's limit, once admitted), and answers it from one transaction
/// that commits whole or not at all.
pub async fn run(
    call: Call,
    request: impl Future<Output = Result<types::Request, ScimError>>,
) -> Result<types::Response, ScimError> {
    // Admission: the realm's rate, concurrency and cool-down.
    let admitted = match call.tenant.limiter.admit() {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let pause = refusal.pause();
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            return Err(refused(&call.tenant.name, refusal));
        }
    };
    let request = request.await?;

    // The plan: what the realm's recent calls of this kind did.
    let app = call.app.clone();
    let kind = Kind::of(&request.method, &request.path);
    let begins_as_write = call.tenant.write_plans.begins_as_write(kind);
    if begins_as_write {
        app.metrics.calls_begun_as_writes.inc();
    }

    // A write turn (before the slot: writes waiting for a turn hold no slot from reads),
    // then an instance slot.
    let parallel = app.store.writes_in_parallel(&call.tenant.name);
    let turn = match begins_as_write && !parallel {
        true => {
            let asked = std::time::Instant::now();
            let turn = app.write_turns.take().await;
            app.metrics.write_turn_wait_seconds.observe(asked.elapsed().as_secs_f64());
            Some(turn)
        }
        false => None,
    };
    let slot = app.runtime.slot().await;

    // Transaction, guest call, commit and rerun, on a blocking thread. The slot and the
    // realm's admission go with that run, not with this future: a client that hangs up
    // mid-call must not free them while its call runs.
    let request_id = call.request_id.clone();
    let running = Running { call, request, _admitted: admitted, _running: app.calls_running.clone() };
    let held = turn.clone();
    let access = if begins_as_write { Access::Write } else { Access::Read };
    let blocking = tokio::task::spawn_blocking(move || running.attempts(access, held.as_ref(), slot));
    let ran = match turn {
        Some(turn) => WriteTurns::hold(turn, blocking).await,
        None => blocking.await,
    };
    let ran = ran.map_err(|e| internal(&request_id, format!("the guest call panicked: {e}")))?;

    // Learning: whether this kind of call is better begun as a write: on one writer, when
    // it writes; where writes run in parallel, when it meets other writes and runs again
    // (begun as a write there, it runs alone among the realm's writers from the start).
    if !begins_as_write {
        let better_as_write = if parallel { ran.reran } else { ran.wrote };
        ran.tenant.write_plans.ran_as_read(kind, better_as_write);
    }
    ran.answer
}

/// A call on its blocking thread, with everything it runs on.
struct Running {
    call: Call,
    request: types::Request,
    /// The realm's concurrency permit, held until the last attempt ends.
    _admitted: Option<OwnedSemaphorePermit>,
    /// Counts the call among the server's running calls until then.
    _running: Arc<()>,
}

/// What the attempts came to.
struct Ran {
    tenant: Arc<Tenant>,
    answer: Result<types::Response, ScimError>,
    /// Whether the call wrote (or tried to, and ran again).
    wrote: bool,
    /// Whether it met another write and ran again.
    reran: bool,
}

impl Running {
    /// Runs the call in a transaction until it commits or fails: a response below 400
    /// commits; anything else rolls back, so a request applies whole or not at all. A
    /// transient store conflict (a write came between a snapshot and the call's first
    /// write, a busy database) runs the call again, as a write from the start. A write
    /// gives its `turn` back at its commit, which may wait for other calls'. The run holds
    /// its instance `_slot` until it returns.
    fn attempts(self, mut access: Access, turn: Option<&Turn>, _slot: OwnedSemaphorePermit) -> Ran {
        let Call { app, tenant, request_id, .. } = &self.call;
        let (mut wrote, mut reran) = (false, false);
        let mut last = String::new();
        let ran = |answer, wrote, reran| Ran { tenant: tenant.clone(), answer, wrote, reran };
        for attempt in 1..=MAX_ATTEMPTS {
            // A store that writes in parallel runs a call begun as a read beside the realm's
            // other writes, and one begun as a write (or run again) alone among them: it
            // queues instead of failing.
            let transaction = match self.begin(access) {
                Ok(transaction) => transaction,
                Err(DirectoryError::Transient(why)) => {
                    last = why;
                    continue;
                }
                Err(e) => return ran(Err(begin_failed(tenant, request_id, e)), wrote, reran),
            };
            let outcome = match self.guest_call(transaction) {
                Ok(outcome) => outcome,
                Err(CallError::Rerun(why)) => {
                    tracing::debug!(request_id = %request_id.0, attempt, "running again after a transient conflict: {why}");
                    app.metrics.reruns.inc();
                    if access == Access::Read {
                        app.metrics.write_upgrades.inc();
                    }
                    (wrote, reran, access, last) = (true, true, Access::Write, why);
                    continue;
                }
                Err(e) => return ran(Err(self.failure(e)), wrote, reran),
            };
            if access == Access::Read && outcome.transaction.writer_since().is_some() {
                app.metrics.write_upgrades.inc();
                wrote = true;
            }
            let status = outcome.response.status;
            if status == 409 {
                let (constraint, detail) = outcome.conflict.clone().unwrap_or_default();
                tracing::warn!(request_id = %request_id.0, realm = %tenant.name, constraint, detail, "409 conflict");
            }
            if status >= 400 {
                return ran(Ok(outcome.response), wrote, reran);
            }
            if let Some(turn) = turn {
                turn.give_back();
            }
            let started = std::time::Instant::now();
            let committed = outcome.transaction.commit();
            app.metrics.store_commit_seconds.observe(started.elapsed().as_secs_f64());
            match committed {
                Ok(()) => return ran(Ok(outcome.response), wrote, reran),
                Err(DirectoryError::Transient(why)) => {
                    app.metrics.reruns.inc();
                    (reran, access, last) = (true, Access::Write, why);
                }
                Err(e) => {
                    return ran(Err(unavailable(request_id, format!("the store could not commit: {e}"))), wrote, reran);
                }
            }
        }
        let error = unavailable(request_id, format!("the store stayed busy over {MAX_ATTEMPTS} attempts: {last}"));
        ran(Err(error), wrote, reran)
    }

    /// The call's transaction, seen through its organization in organization scope.
    fn begin(&self, access: Access) -> Result<Box<dyn Transaction>, DirectoryError> {
        let Call { app, tenant, request_id, scope } = &self.call;
        let transaction = app.store.begin(&tenant.name, access, &request_id.0)?;
        Ok(match scope {
            types::Scope::Realm => transaction,
            types::Scope::Organization(org) => Box::new(OrganizationScoped::new(transaction, org.id.clone())),
        })
    }

    /// One `handle` call of the tenant's module in a fresh instance, measured; a guest
    /// that runs into its deadline or memory limit counts a strike against its realm.
    fn guest_call(&self, transaction: Box<dyn Transaction>) -> Result<CallOutcome, CallError> {
        let Call { app, tenant, scope, .. } = &self.call;
        let limits = CallLimits {
            memory_bytes: (tenant.limits.memory_mib as usize) << 20,
            deadline: tenant.limits.deadline(),
            write_hold: tenant.limits.write_hold(),
        };
        let input = CallInput {
            scope,
            config: &tenant.guest_config,
            request: &self.request,
            limiter: Some(tenant.limiter.clone()),
        };
        app.metrics.instantiations.inc();
        let started = std::time::Instant::now();
        let outcome = app.runtime.call(&tenant.module, transaction, limits, &input);
        let realm = RealmLabels { realm: tenant.name.clone() };
        app.metrics.guest_call_seconds.get_or_create(&realm).observe(started.elapsed().as_secs_f64());
        let kind = match &outcome {
            Err(CallError::Deadline(_)) => "deadline",
            Err(CallError::Memory(_)) => "memory",
            Err(CallError::Trap(_)) => "trap",
            _ => return outcome,
        };
        app.metrics.guest_failures.get_or_create(&FailureLabels { realm: tenant.name.clone(), kind }).inc();
        if kind != "trap"
            && let Some(cooldown) = tenant.limiter.strike()
        {
            tracing::warn!(realm = %tenant.name, ?cooldown, "the realm's calls keep failing: cooling it down");
        }
        outcome
    }

    /// A guest call that gave no response, as the client's error.
    fn failure(&self, error: CallError) -> ScimError {
        let Call { tenant, request_id, .. } = &self.call;
        let detail = format!("realm \"{}\": {error}; nothing was changed", tenant.name);
        match error {
            CallError::Deadline(_) | CallError::Memory(_) | CallError::CoolingDown => unavailable(request_id, detail),
            _ => internal(request_id, detail),
        }
    }
}

/// A transaction that could not begin.
fn begin_failed(tenant: &Tenant, request_id: &RequestId, error: DirectoryError) -> ScimError {
    match error {
        // Deleted through the admin API since the request found it.
        DirectoryError::NotFound(_) => ScimError::not_found(format!("realm \"{}\" does not exist", tenant.name)),
        e => unavailable(request_id, format!("the store is unavailable: {e}")),
    }
}

/// A request over its realm's rate (429) or concurrency (503), with when to retry.
fn refused(realm: &str, refusal: Refusal) -> ScimError {
    match refusal {
        Refusal::Rate(wait) => ScimError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("realm \"{realm}\" is over its request rate; retry in {} ms", wait.as_millis().max(1)),
        )
        .with_header(header::RETRY_AFTER, wait.as_secs_f64().ceil().max(1.0).to_string()),
        Refusal::CoolingDown(left) => ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "realm \"{realm}\" is cooling down: its calls kept running into their deadline or memory limit; \
                 retry in {} s",
                left.as_secs_f64().ceil()
            ),
        )
        .with_header(header::RETRY_AFTER, left.as_secs_f64().ceil().max(1.0).to_string()),
        Refusal::Concurrency(limit) => ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("realm \"{realm}\" already runs its limit of {limit} concurrent calls"),
        )
        .with_header(header::RETRY_AFTER, "1".into()),
    }
}

/// A 500 whose detail carries the request id, for the operator to find in the log.
fn internal(request_id: &RequestId, detail: String) -> ScimError {
    tracing::error!(request_id = %request_id.0, "{detail}");
    ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{detail} (request id {})", request_id.0))
}

/// A 503 whose detail carries the request id.
fn unavailable(request_id: &RequestId, detail: String) -> ScimError {
    tracing::warn!(request_id = %request_id.0, "{detail}");
    ScimError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{detail} (request id {})", request_id.0))
        .with_header(header::RETRY_AFTER, "1".into())
}
