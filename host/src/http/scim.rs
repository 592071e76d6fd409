//! The SCIM endpoints: resolve the realm and organization, authenticate, read the body
//! within the realm's limit, then run one guest call in one transaction on a blocking
//! thread. The host knows no SCIM here beyond wrapping its own failures.

use super::RequestId;
use super::error::ScimError;
use crate::app::App;
use crate::bindings::types;
use crate::limits::Refusal;
use crate::metrics::{FailureLabels, RealmLabels};
use crate::runtime::{CallError, CallInput, CallLimits};
use crate::store::{Access, DirectoryError, OrganizationScoped};
use crate::tenants::Tenant;
use crate::upsert_plan::Upsert;
use crate::write_turns::{Turn, WriteTurns};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// How many times a call runs when the store keeps reporting transient conflicts.
const MAX_ATTEMPTS: u32 = 5;

/// Request headers a guest never sees.
const WITHHELD_HEADERS: [HeaderName; 3] = [header::AUTHORIZATION, header::COOKIE, header::PROXY_AUTHORIZATION];

/// Where a SCIM request is addressed.
struct Target<'a> {
    realm: &'a str,
    organization: Option<&'a str>,
    /// The path below the SCIM base, starting with `/`.
    path: String,
    /// The SCIM base path (`/realms/demo/scim/v2[/organizations/acme]`).
    base: String,
}

/// Splits `/realms/{realm}/scim/v2[/organizations/{org}]/rest`.
fn target(path: &str) -> Option<Target<'_>> {
    let rest = path.strip_prefix("/realms/")?;
    let (realm, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("scim/v2")?;
    if !(rest.is_empty() || rest.starts_with('/')) || realm.is_empty() {
        return None;
    }
    let (organization, rest) = match rest.strip_prefix("/organizations/") {
        Some(after) => {
            let (alias, rest) = match after.find('/') {
                Some(slash) => after.split_at(slash),
                None => (after, ""),
            };
            if alias.is_empty() {
                return None;
            }
            (Some(alias), rest)
        }
        None => (None, rest),
    };
    let base = match organization {
        Some(alias) => format!("/realms/{realm}/scim/v2/organizations/{alias}"),
        None => format!("/realms/{realm}/scim/v2"),
    };
    let path = if rest.is_empty() { "/".to_string() } else { rest.to_string() };
    Some(Target { realm, organization, path, base })
}

/// How a request's call meets the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// GET, list and `.search`: a read transaction.
    Read,
    /// A write transaction, in a write turn.
    Write,
    /// What an identity provider repeats unchanged on every re-sync (POST of a user or a
    /// group, PUT of a user): run as a read, beside the reads, and once more as a write
    /// only if the guest writes. An unchanged upsert then never waits for the one writer;
    /// a changed one pays its reading part twice, so while a realm's upserts mostly
    /// write, they go to the writer at once (`upsert_plan`).
    ReadFirst(Upsert),
}

fn plan(method: &Method, path: &str) -> Plan {
    let path = path.trim_end_matches('/');
    if method == Method::GET || method == Method::HEAD || (method == Method::POST && path.ends_with("/.search")) {
        Plan::Read
    } else if method == Method::POST && path == "/Users" {
        Plan::ReadFirst(Upsert::PostUser)
    } else if method == Method::POST && path == "/Groups" {
        Plan::ReadFirst(Upsert::PostGroup)
    } else if method == Method::PUT && path.starts_with("/Users/") {
        Plan::ReadFirst(Upsert::PutUser)
    } else {
        Plan::Write
    }
}

/// The public URL of the SCIM base, for `meta.location`: from the configuration, not from
/// what a client says the server is called, unless the operator trusts the `Host` header.
fn base_url(app: &App, headers: &HeaderMap, base: &str) -> String {
    let trusted = headers.get(header::HOST).filter(|_| app.config.trust_host_header).and_then(|h| h.to_str().ok());
    match trusted {
        Some(host) => format!("http://{host}{base}"),
        None => format!("{}{base}", app.public_base()),
    }
}

/// Every request under `/realms/{realm}/scim/v2`.
pub async fn endpoint(State(app): State<Arc<App>>, request: Request) -> Response {
    let request_id = request.extensions().get::<RequestId>().cloned().unwrap_or_default();
    let method = request.method().clone();
    // Only known realms become label values, so random paths cannot grow the series.
    let realm = target(request.uri().path())
        .map(|t| t.realm.to_string())
        .filter(|r| app.tenants.get(r).is_some())
        .unwrap_or_else(|| "-".into());
    let response = match serve(&app, request, &request_id).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    app.metrics.request(&realm, method.as_str(), response.status().as_u16());
    response
}

async fn serve(app: &Arc<App>, request: Request, request_id: &RequestId) -> Result<Response, ScimError> {
    let (parts, body) = request.into_parts();
    let target = target(parts.uri.path())
        .ok_or_else(|| ScimError::not_found(format!("no SCIM endpoint at {}", parts.uri.path())))?;
    let tenant = app.tenants.get(target.realm).ok_or_else(|| match app.tenants.broken(target.realm) {
        // The operator reads why in the log and at /readyz; the client learns only that it is down.
        Some(_) => ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("realm \"{}\" is unavailable: its module did not load", target.realm),
        ),
        None => ScimError::not_found(format!("realm \"{}\" does not exist", target.realm)),
    })?;
    authenticate(&tenant, target.organization, &parts.headers)?;
    let scope = match target.organization {
        None => types::Scope::Realm,
        Some(alias) => types::Scope::Organization(tenant.organizations.get(alias).cloned().ok_or_else(|| {
            ScimError::not_found(format!("organization \"{alias}\" does not exist in realm \"{}\"", tenant.name))
        })?),
    };
    let admitted = match tenant.limiter.admit() {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let pause = refusal.pause();
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            return Err(refused(&tenant.name, refusal));
        }
    };
    let body = read_body(body, tenant.limits.max_body_bytes).await?;

    let guest_request = types::Request {
        method: parts.method.as_str().to_string(),
        query: parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .filter(|(name, _)| !WITHHELD_HEADERS.contains(name))
            .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
            .collect(),
        body,
        base_url: base_url(app, &parts.headers, &target.base),
        path: target.path,
    };
    let plan = match plan(&parts.method, &guest_request.path) {
        Plan::ReadFirst(upsert) if !tenant.upserts.read_first(upsert) => {
            app.metrics.upserts_written_first.inc();
            Plan::Write
        }
        plan => plan,
    };
    let call = Arc::new(Call {
        app: app.clone(),
        tenant,
        request_id: request_id.clone(),
        scope,
        request: guest_request,
        _admitted: admitted,
        _running: app.calls_running.clone(),
    });
    // The slot (and, in `call`, the realm's admission) go with the blocking run, not with
    // this future: a client that hangs up mid-call must not free them while its call runs.
    if plan != Plan::Write {
        let slot = app.runtime.slot().await;
        let read = call.clone();
        let upgrade_on_write = matches!(plan, Plan::ReadFirst(_));
        let ran = tokio::task::spawn_blocking(move || read.run(Access::Read, upgrade_on_write, None, slot))
            .await
            .map_err(|e| internal(request_id, format!("the guest call panicked: {e}")))?;
        if let (Plan::ReadFirst(upsert), Ok(_) | Err(Ran::NeedsWrite)) = (plan, &ran) {
            call.tenant.upserts.ran_as_read(upsert, ran.is_err());
        }
        match ran {
            Ok(response) => return Ok(response),
            Err(Ran::Failed(error)) => return Err(error),
            Err(Ran::NeedsWrite) => {
                app.metrics.write_upgrades.inc();
                tracing::debug!(request_id = %request_id.0, "the call wrote: running it again as a write");
            }
        }
    }
    // The turn before the instance slot: writes waiting for a turn hold no slot from reads.
    let asked = std::time::Instant::now();
    let turn = app.write_turns.take().await;
    app.metrics.write_turn_wait_seconds.observe(asked.elapsed().as_secs_f64());
    let slot = app.runtime.slot().await;
    let held = turn.clone();
    let write = tokio::task::spawn_blocking(move || call.run(Access::Write, false, Some(&held), slot));
    match WriteTurns::hold(turn, write).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(Ran::Failed(error))) => Err(error),
        Ok(Err(Ran::NeedsWrite)) => Err(internal(request_id, "a write call was stopped as a read".into())),
        Err(e) => Err(internal(request_id, format!("the guest call panicked: {e}"))),
    }
}

/// A guest call, with everything it runs on (shared by its runs as a read and as a write).
struct Call {
    app: Arc<App>,
    tenant: Arc<Tenant>,
    request_id: RequestId,
    scope: types::Scope,
    request: types::Request,
    /// The realm's concurrency permit, held until the last run ends.
    _admitted: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Counts the call among the server's running calls until then.
    _running: Arc<()>,
}

/// Why a run gave no response.
enum Ran {
    Failed(ScimError),
    /// A run as a read wrote; it must run again as a write.
    NeedsWrite,
}

impl From<ScimError> for Ran {
    fn from(error: ScimError) -> Self {
        Ran::Failed(error)
    }
}

/// Checks the bearer token against the tokens that open this scope: a token limited to
/// one organization opens nothing else.
fn authenticate(tenant: &Tenant, organization: Option<&str>, headers: &HeaderMap) -> Result<(), ScimError> {
    let realm = &tenant.name;
    super::check_bearer(headers, &tenant.token_hashes(organization)).map_err(|problem| match problem {
        super::BearerProblem::Missing => {
            ScimError::unauthorized(realm, format!("realm \"{realm}\" needs an Authorization: Bearer token"))
        }
        super::BearerProblem::Rejected => {
            ScimError::unauthorized(realm, format!("the bearer token is not valid for realm \"{realm}\""))
        }
    })
}

async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, ScimError> {
    axum::body::to_bytes(body, limit).await.map(|b| b.to_vec()).map_err(|e| {
        let too_large = caused_by::<http_body_util::LengthLimitError>(&e);
        let too_slow = caused_by::<super::body_deadline::BodyTooSlow>(&e);
        if too_slow {
            ScimError::new(StatusCode::REQUEST_TIMEOUT, format!("{e}"))
        } else if too_large {
            // RFC 7644 names no scimType for a body that is too large.
            ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than this realm's limit of {limit} bytes"),
            )
        } else {
            ScimError::new(StatusCode::BAD_REQUEST, format!("the request body could not be read: {e}"))
        }
    })
}

/// Whether an error of type `T` is among the causes of `error`.
fn caused_by<T: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<T>())
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

fn unavailable(request_id: &RequestId, detail: String) -> ScimError {
    tracing::warn!(request_id = %request_id.0, "{detail}");
    ScimError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{detail} (request id {})", request_id.0))
        .with_header(header::RETRY_AFTER, "1".into())
}

impl Call {
    /// Runs the call in a transaction: a response below 400 commits; anything else rolls
    /// back, so a request applies whole or not at all. A transient store conflict reruns
    /// the call; with `upgrade_on_write`, a read's first write stops it ([`Ran::NeedsWrite`]).
    /// A write gives its `turn` back at its commit, which may wait for other calls'. The
    /// run holds its instance `_slot` until it returns.
    fn run(
        &self,
        access: Access,
        upgrade_on_write: bool,
        turn: Option<&Turn>,
        _slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Response, Ran> {
        let Call { app, tenant, request_id, scope, request, .. } = self;
        let limits = CallLimits {
            memory_bytes: (tenant.limits.memory_mib as usize) << 20,
            deadline: tenant.limits.deadline(),
            write_hold: tenant.limits.write_hold(),
        };
        let input = CallInput {
            scope,
            config: &tenant.guest_config,
            request,
            upgrade_on_write,
            limiter: Some(tenant.limiter.clone()),
        };
        let mut last = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let transaction = match app.store.begin(&tenant.name, access, &request_id.0) {
                Ok(t) => t,
                Err(DirectoryError::Transient(why)) => {
                    last = why;
                    continue;
                }
                // Deleted through the admin API since the request found it.
                Err(DirectoryError::NotFound(_)) => {
                    return Err(ScimError::not_found(format!("realm \"{}\" does not exist", tenant.name)).into());
                }
                Err(e) => return Err(unavailable(request_id, format!("the store is unavailable: {e}")).into()),
            };
            // In organization scope the guest sees the directory through the organization.
            let transaction: Box<dyn crate::store::Transaction> = match scope {
                types::Scope::Realm => transaction,
                types::Scope::Organization(org) => Box::new(OrganizationScoped::new(transaction, org.id.clone())),
            };
            app.metrics.instantiations.inc();
            let started = std::time::Instant::now();
            let outcome = app.runtime.call(&tenant.module, transaction, limits, &input);
            let realm_labels = RealmLabels { realm: tenant.name.clone() };
            app.metrics.guest_call_seconds.get_or_create(&realm_labels).observe(started.elapsed().as_secs_f64());
            if let Err(e @ (CallError::Deadline(_) | CallError::Memory(_) | CallError::Trap(_))) = &outcome {
                let kind = match e {
                    CallError::Deadline(_) => "deadline",
                    CallError::Memory(_) => "memory",
                    _ => "trap",
                };
                app.metrics.guest_failures.get_or_create(&FailureLabels { realm: tenant.name.clone(), kind }).inc();
                if kind != "trap"
                    && let Some(cooldown) = tenant.limiter.strike()
                {
                    tracing::warn!(realm = %tenant.name, ?cooldown, "the realm's calls keep failing: cooling it down");
                }
            }
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(CallError::NeedsWrite) => return Err(Ran::NeedsWrite),
                Err(CallError::Rerun(why)) => {
                    tracing::debug!(request_id = %request_id.0, attempt, "rerunning after a transient conflict: {why}");
                    last = why;
                    continue;
                }
                Err(e @ (CallError::Deadline(_) | CallError::Memory(_) | CallError::CoolingDown)) => {
                    return Err(unavailable(
                        request_id,
                        format!("realm \"{}\": {e}; nothing was changed", tenant.name),
                    )
                    .into());
                }
                Err(e) => {
                    return Err(
                        internal(request_id, format!("realm \"{}\": {e}; nothing was changed", tenant.name)).into()
                    );
                }
            };
            let status = outcome.response.status;
            if status == 409 {
                // The store's own conflict when it raised one, else what the guest answered.
                let (constraint, detail) =
                    outcome.conflict.clone().unwrap_or_else(|| conflict_in(&outcome.response.body));
                tracing::warn!(request_id = %request_id.0, realm = %tenant.name, constraint, detail, "409 conflict");
            }
            if status < 400 {
                if let Some(turn) = turn {
                    turn.give_back();
                }
                let started = std::time::Instant::now();
                let committed = outcome.transaction.commit();
                app.metrics.store_commit_seconds.observe(started.elapsed().as_secs_f64());
                match committed {
                    Ok(()) => {}
                    Err(DirectoryError::Transient(why)) => {
                        last = why;
                        continue;
                    }
                    Err(e) => return Err(unavailable(request_id, format!("the store could not commit: {e}")).into()),
                }
            }
            return Ok(response(outcome.response, request_id));
        }
        Err(unavailable(request_id, format!("the store stayed busy over {MAX_ATTEMPTS} attempts: {last}")).into())
    }
}

/// The `scimType` and `detail` of a guest's error body.
fn conflict_in(body: &[u8]) -> (String, String) {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_string();
    (text("scimType"), text("detail"))
}

/// The guest's response as HTTP.
fn response(guest: types::Response, request_id: &RequestId) -> Response {
    let status = StatusCode::from_u16(guest.status).unwrap_or_else(|_| {
        tracing::warn!(request_id = %request_id.0, status = guest.status, "the guest answered an invalid status");
        StatusCode::INTERNAL_SERVER_ERROR
    });
    // Built by hand so that no default content type joins the guest's own.
    let mut response = Response::new(Body::from(guest.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in guest.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_realm_organization_and_rest() {
        let t = target("/realms/demo/scim/v2/Users/42").unwrap();
        assert_eq!(
            (t.realm, t.organization, t.path.as_str(), t.base.as_str()),
            ("demo", None, "/Users/42", "/realms/demo/scim/v2")
        );
        let t = target("/realms/demo/scim/v2/organizations/acme/Groups").unwrap();
        assert_eq!((t.organization, t.path.as_str()), (Some("acme"), "/Groups"));
        assert_eq!(t.base, "/realms/demo/scim/v2/organizations/acme");
        let t = target("/realms/demo/scim/v2/organizations/acme").unwrap();
        assert_eq!(t.path, "/");
        assert_eq!(target("/realms/demo/scim/v2").unwrap().path, "/");
        assert!(target("/realms/demo/scim/v2x").is_none());
        assert!(target("/realms//scim/v2").is_none());
    }

    #[test]
    fn searches_read_upserts_read_first_and_everything_else_writes() {
        assert_eq!(plan(&Method::GET, "/Users"), Plan::Read);
        assert_eq!(plan(&Method::POST, "/Users/.search"), Plan::Read);
        assert_eq!(plan(&Method::POST, "/Users"), Plan::ReadFirst(Upsert::PostUser));
        assert_eq!(plan(&Method::POST, "/Groups/"), Plan::ReadFirst(Upsert::PostGroup));
        assert_eq!(plan(&Method::PUT, "/Users/1"), Plan::ReadFirst(Upsert::PutUser));
        assert_eq!(plan(&Method::PUT, "/Groups/1"), Plan::Write);
        assert_eq!(plan(&Method::POST, "/Bulk"), Plan::Write);
        assert_eq!(plan(&Method::PATCH, "/Groups/1"), Plan::Write);
        assert_eq!(plan(&Method::DELETE, "/Users/1"), Plan::Write);
    }
}
