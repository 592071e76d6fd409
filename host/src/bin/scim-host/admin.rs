//! `scim-host admin …`: the admin API of a running server from the command line. Each
//! command is one or two HTTP calls; the answer is printed as JSON (pipe it to `jq`), and
//! a refusal is printed with the server's own explanation.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

#[derive(Args)]
pub struct AdminArgs {
    /// The server's base URL (plain HTTP: reach a remote server through an SSH tunnel or a
    /// local port, not across a network).
    #[arg(long, env = "SCIM_HOST_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin token (one whose hash is in the configuration's `admin_tokens`).
    #[arg(long, env = "SCIM_HOST_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Realms (tenants): list, show, create, change, delete.
    #[command(subcommand)]
    Realm(RealmCommand),
    /// Organizations of a realm: list, create, delete.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Bearer tokens of a realm: list, issue, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The component a realm runs: show, upload, roll back.
    #[command(subcommand)]
    Module(ModuleCommand),
    /// Webhook subscriptions of a realm: list, create, show, change, delete, deliveries, test.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// A realm's admin events, oldest first.
    Events {
        realm: String,
        /// Event kinds, comma-separated (`USER_CREATED,MEMBER_JOINED`).
        #[arg(long = "type")]
        kinds: Option<String>,
        /// Only events at or after this time (RFC 3339, or milliseconds since the epoch).
        #[arg(long)]
        since: Option<String>,
        /// Only events after this sequence number (the `next` of the previous page).
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum RealmCommand {
    /// Every realm with its module, organizations and limits.
    List,
    /// One realm.
    Show { realm: String },
    /// Creates a realm on the bundled module.
    Create {
        realm: String,
        /// A limit over the server's (repeatable): `requests_per_second=50`, `memory_mib=32`.
        #[arg(long = "limit", value_name = "NAME=VALUE")]
        limits: Vec<String>,
        /// A guest setting (repeatable).
        #[arg(long = "setting", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// The store to create it in, by name (`default` when absent).
        #[arg(long)]
        store: Option<String>,
    },
    /// Changes a realm's limits and guest settings; what is not named stays as it is.
    Set {
        realm: String,
        /// A limit (repeatable); the value `none` lifts an optional limit.
        #[arg(long = "limit", value_name = "NAME=VALUE")]
        limits: Vec<String>,
        /// A guest setting to add or change (repeatable).
        #[arg(long = "setting", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// A guest setting to remove (repeatable).
        #[arg(long = "unset-setting", value_name = "NAME")]
        unset: Vec<String>,
        /// Return the limits to the configuration's (or the server's).
        #[arg(long, conflicts_with = "limits")]
        reset_limits: bool,
    },
    /// Deletes a realm and all its data (users, groups, organizations, tokens, events).
    Delete {
        realm: String,
        /// Confirms that the data is to go.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    List {
        realm: String,
    },
    Create {
        realm: String,
        alias: String,
        /// The display name (the alias when left out).
        #[arg(long)]
        name: Option<String>,
    },
    /// Deletes an organization with its groups and tokens; its users stay in the realm.
    Delete {
        realm: String,
        alias: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    List {
        realm: String,
    },
    /// Issues a token and prints it (the only time it is shown).
    Issue {
        realm: String,
        /// Limit the token to this organization.
        #[arg(long)]
        organization: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
        /// Print the token alone, for a script: `SCIM_TOKEN=$(scim-host admin token issue R --secret-only)`.
        #[arg(long)]
        secret_only: bool,
    },
    Revoke {
        realm: String,
        id: String,
    },
}

#[derive(Subcommand)]
enum ModuleCommand {
    /// The module a realm runs and the ones it ran.
    Show { realm: String },
    /// Uploads a component; the realm runs it from the next request on.
    Upload { realm: String, file: PathBuf },
    /// Returns to the previous module, or to the one named.
    Rollback {
        realm: String,
        #[arg(long = "to", value_name = "DIGEST")]
        digest: Option<String>,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    List {
        realm: String,
    },
    /// Subscribes an endpoint and prints its signing secret (the only time it is shown).
    Create {
        realm: String,
        url: String,
        /// An event type to deliver (repeatable; every type when left out).
        #[arg(long = "type")]
        types: Vec<String>,
        /// Only the changes made in this organization's scope.
        #[arg(long)]
        organization: Option<String>,
    },
    /// A subscription with its recent deliveries.
    Show {
        realm: String,
        id: String,
    },
    /// Changes a subscription; what is not named stays as it is.
    Set {
        realm: String,
        id: String,
        #[arg(long)]
        url: Option<String>,
        /// The event types to deliver (repeatable): they replace the current ones.
        #[arg(long = "type")]
        types: Vec<String>,
        /// Enables a subscription again (after failures disabled it), or disables it.
        #[arg(long)]
        enabled: Option<bool>,
    },
    Delete {
        realm: String,
        id: String,
    },
    /// The delivery log: the last attempts, newest first.
    Deliveries {
        realm: String,
        id: String,
    },
    /// Sends one signed test message now and prints what the endpoint answered.
    Test {
        realm: String,
        id: String,
    },
}

/// Runs one admin command and prints its answer.
pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client =
        Client { base: args.url.trim_end_matches('/').to_string(), token: args.token, http: reqwest::Client::new() };
    let answer = runtime.block_on(command(&client, args.command))?;
    match answer {
        Some(Value::String(text)) => println!("{text}"),
        Some(answer) => println!("{}", serde_json::to_string_pretty(&answer)?),
        None => {}
    }
    Ok(())
}

async fn webhook(client: &Client, command: WebhookCommand) -> anyhow::Result<Option<Value>> {
    let at = |realm: &str, id: &str| format!("/admin/realms/{realm}/webhooks/{id}");
    match command {
        WebhookCommand::List { realm } => {
            client.call(Method::GET, &format!("/admin/realms/{realm}/webhooks"), None).await
        }
        WebhookCommand::Create { realm, url, types, organization } => {
            let mut body = json!({ "url": url, "organization": organization });
            if !types.is_empty() {
                body["types"] = json!(types);
            }
            client.call(Method::POST, &format!("/admin/realms/{realm}/webhooks"), Some(Body::Json(body))).await
        }
        WebhookCommand::Show { realm, id } => client.call(Method::GET, &at(&realm, &id), None).await,
        WebhookCommand::Set { realm, id, url, types, enabled } => {
            let mut change = Map::new();
            if let Some(url) = url {
                change.insert("url".into(), json!(url));
            }
            if !types.is_empty() {
                change.insert("types".into(), json!(types));
            }
            if let Some(enabled) = enabled {
                change.insert("enabled".into(), json!(enabled));
            }
            client.call(Method::PATCH, &at(&realm, &id), Some(Body::Json(Value::Object(change)))).await
        }
        WebhookCommand::Delete { realm, id } => client.call(Method::DELETE, &at(&realm, &id), None).await,
        WebhookCommand::Deliveries { realm, id } => {
            client.call(Method::GET, &format!("{}/deliveries", at(&realm, &id)), None).await
        }
        WebhookCommand::Test { realm, id } => {
            client.call(Method::POST, &format!("{}/test", at(&realm, &id)), None).await
        }
    }
}

async fn command(client: &Client, command: AdminCommand) -> anyhow::Result<Option<Value>> {
    let json_body = |v: Value| Some(Body::Json(v));
    match command {
        AdminCommand::Realm(RealmCommand::List) => client.call(Method::GET, "/admin/realms", None).await,
        AdminCommand::Realm(RealmCommand::Show { realm }) => {
            client.call(Method::GET, &format!("/admin/realms/{realm}"), None).await
        }
        AdminCommand::Realm(RealmCommand::Create { realm, limits, settings, store }) => {
            let mut body = json!({ "name": realm });
            if let Some(store) = store {
                body["store"] = json!(store);
            }
            if !limits.is_empty() {
                body["limits"] = limit_values(&limits)?;
            }
            if !settings.is_empty() {
                body["settings"] = Value::Object(pairs(&settings)?.into_iter().map(|(k, v)| (k, json!(v))).collect());
            }
            client.call(Method::POST, "/admin/realms", json_body(body)).await
        }
        AdminCommand::Realm(RealmCommand::Set { realm, limits, settings, unset, reset_limits }) => {
            let path = format!("/admin/realms/{realm}");
            let mut change = Map::new();
            if reset_limits {
                change.insert("limits".into(), Value::Null);
            } else if !limits.is_empty() {
                change.insert("limits".into(), limit_values(&limits)?);
            }
            if !settings.is_empty() || !unset.is_empty() {
                // The API replaces settings whole: merge over what the realm has now.
                let current = client.call(Method::GET, &path, None).await?.unwrap_or_default();
                let mut merged = current["settings"].as_object().cloned().unwrap_or_default();
                for (name, value) in pairs(&settings)? {
                    merged.insert(name, json!(value));
                }
                for name in &unset {
                    merged.remove(name);
                }
                change.insert("settings".into(), Value::Object(merged));
            }
            if change.is_empty() {
                anyhow::bail!("nothing to change: give --limit, --setting, --unset-setting or --reset-limits");
            }
            client.call(Method::PATCH, &path, json_body(Value::Object(change))).await
        }
        AdminCommand::Realm(RealmCommand::Delete { realm, yes }) => {
            if !yes {
                anyhow::bail!(
                    "deleting realm \"{realm}\" removes all its users, groups, organizations, tokens and events; \
                     add --yes to confirm"
                );
            }
            client.call(Method::DELETE, &format!("/admin/realms/{realm}"), None).await
        }
        AdminCommand::Org(OrgCommand::List { realm }) => {
            client.call(Method::GET, &format!("/admin/realms/{realm}/organizations"), None).await
        }
        AdminCommand::Org(OrgCommand::Create { realm, alias, name }) => {
            let body = json!({ "alias": alias, "name": name });
            client.call(Method::POST, &format!("/admin/realms/{realm}/organizations"), json_body(body)).await
        }
        AdminCommand::Org(OrgCommand::Delete { realm, alias }) => {
            client.call(Method::DELETE, &format!("/admin/realms/{realm}/organizations/{alias}"), None).await
        }
        AdminCommand::Token(TokenCommand::List { realm }) => {
            client.call(Method::GET, &format!("/admin/realms/{realm}/tokens"), None).await
        }
        AdminCommand::Token(TokenCommand::Issue { realm, organization, label, secret_only }) => {
            let body = json!({ "organization": organization, "label": label });
            let issued = client.call(Method::POST, &format!("/admin/realms/{realm}/tokens"), json_body(body)).await?;
            match issued {
                Some(issued) if secret_only => Ok(Some(issued["token"].clone())),
                issued => Ok(issued),
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { realm, id }) => {
            client.call(Method::DELETE, &format!("/admin/realms/{realm}/tokens/{id}"), None).await
        }
        AdminCommand::Webhook(command) => webhook(client, command).await,
        AdminCommand::Module(ModuleCommand::Show { realm }) => {
            client.call(Method::GET, &format!("/admin/realms/{realm}/module"), None).await
        }
        AdminCommand::Module(ModuleCommand::Upload { realm, file }) => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            client.call(Method::PUT, &format!("/admin/realms/{realm}/module"), Some(Body::Wasm(bytes))).await
        }
        AdminCommand::Module(ModuleCommand::Rollback { realm, digest }) => {
            let body = json!({ "digest": digest });
            client.call(Method::POST, &format!("/admin/realms/{realm}/module/rollback"), json_body(body)).await
        }
        AdminCommand::Events { realm, kinds, since, after, limit } => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("after", &after.to_string()).append_pair("limit", &limit.to_string());
            if let Some(kinds) = &kinds {
                query.append_pair("type", kinds);
            }
            if let Some(since) = &since {
                query.append_pair("since", since);
            }
            client.call(Method::GET, &format!("/admin/realms/{realm}/events?{}", query.finish()), None).await
        }
    }
}

/// `NAME=VALUE` arguments, in order.
fn pairs(given: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    given
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => anyhow::bail!("\"{pair}\": expected NAME=VALUE"),
        })
        .collect()
}

/// Limits as JSON: numbers, and `none` for a lifted limit. The server checks names and ranges.
fn limit_values(given: &[String]) -> anyhow::Result<Value> {
    let mut limits = Map::new();
    for (name, value) in pairs(given)? {
        let value = match value.as_str() {
            "none" => Value::Null,
            number => match (number.parse::<u64>(), number.parse::<f64>()) {
                (Ok(n), _) => json!(n),
                (_, Ok(x)) if x.is_finite() => json!(x),
                _ => anyhow::bail!("--limit {name}={value}: expected a number, or `none` to lift the limit"),
            },
        };
        limits.insert(name, value);
    }
    Ok(Value::Object(limits))
}

enum Body {
    Json(Value),
    Wasm(Vec<u8>),
}

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// One admin call: the answer's JSON (`None` for 204), or an error carrying the server's
    /// detail.
    async fn call(&self, method: Method, path: &str, body: Option<Body>) -> anyhow::Result<Option<Value>> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        request = match body {
            Some(Body::Json(json)) => request.header("content-type", "application/json").body(json.to_string()),
            Some(Body::Wasm(bytes)) => request.header("content-type", "application/wasm").body(bytes),
            None => request,
        };
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!("cannot reach {}: {e}; is scim-host running there? (set --url or SCIM_HOST_URL)", self.base)
        })?;
        let status = response.status();
        let text = response.text().await.context("reading the answer")?;
        let answer: Option<Value> = if text.trim().is_empty() { None } else { serde_json::from_str(&text).ok() };
        if status.is_success() {
            return Ok(answer.or_else(|| (!text.is_empty()).then(|| json!(text))));
        }
        let detail = answer.as_ref().and_then(|a| a["detail"].as_str()).unwrap_or(text.as_str()).to_string();
        let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
            " (check --token or SCIM_HOST_ADMIN_TOKEN: it must be an admin token, not a realm token)"
        } else {
            ""
        };
        anyhow::bail!("{method} {path}: {status}: {detail}{hint}")
    }
}
