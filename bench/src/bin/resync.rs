//! A full re-sync as an identity provider runs it, against any SCIM server: for each
//! user of its directory, a filter probe (`userName eq`), then a PUT of the user found or
//! a POST of a new one, over a fixed number of connections. Prints one JSON line: users
//! per second and the latency of the requests.
//!
//!     resync BASE_URL TOKEN USERS CONNECTIONS
//!
//! The directory's users are `sync-00000`, `sync-00001`…; seeding the server with the
//! first of them makes those PUTs and the rest POSTs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn user(name: &str) -> serde_json::Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": name,
        "name": { "givenName": "Sync", "familyName": "User" },
        "emails": [{ "value": format!("{name}@bench.example"), "type": "work", "primary": true }],
        "active": true,
    })
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    non2xx: usize,
    posts: usize,
    puts: usize,
}

async fn send(request: reqwest::RequestBuilder, tally: &mut Tally) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    tally.latencies.push(started.elapsed());
    if !status.is_success() {
        tally.non2xx += 1;
    }
    Ok(serde_json::from_slice(&body).unwrap_or_default())
}

async fn worker(
    client: reqwest::Client,
    base: Arc<String>,
    token: Arc<String>,
    next: Arc<AtomicUsize>,
    users: usize,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= users {
            return Ok(tally);
        }
        let name = format!("sync-{n:05}");
        // The names need no escaping beyond the filter's spaces and quotes.
        let probe =
            client.get(format!("{base}/Users?filter=userName%20eq%20%22{name}%22&count=1")).bearer_auth(token.as_str());
        let found = send(probe, &mut tally).await?;
        let body = user(&name);
        match found["Resources"][0]["id"].as_str() {
            Some(id) => {
                let put = client.put(format!("{base}/Users/{id}")).bearer_auth(token.as_str());
                send(put.header("content-type", "application/scim+json").body(body.to_string()), &mut tally).await?;
                tally.puts += 1;
            }
            None => {
                let post = client.post(format!("{base}/Users")).bearer_auth(token.as_str());
                send(post.header("content-type", "application/scim+json").body(body.to_string()), &mut tally).await?;
                tally.posts += 1;
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, token, users, connections] = args.as_slice() else {
        anyhow::bail!("usage: resync BASE_URL TOKEN USERS CONNECTIONS");
    };
    let (users, connections): (usize, usize) = (users.parse()?, connections.parse()?);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build()?;
        let (base, token) = (Arc::new(base.trim_end_matches('/').to_string()), Arc::new(token.clone()));
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(worker(client.clone(), base.clone(), token.clone(), next.clone(), users)))
            .collect();
        let mut all = Tally::default();
        for worker in workers {
            let tally = worker.await??;
            all.latencies.extend(tally.latencies);
            all.non2xx += tally.non2xx;
            all.posts += tally.posts;
            all.puts += tally.puts;
        }
        let seconds = started.elapsed().as_secs_f64();
        all.latencies.sort();
        let percentile =
            |p: f64| all.latencies[((all.latencies.len() as f64 * p) as usize).min(all.latencies.len() - 1)];
        println!(
            "{}",
            serde_json::json!({
                "users": users,
                "seconds": seconds,
                "requests": all.latencies.len(),
                "requests_per_second": all.latencies.len() as f64 / seconds,
                "users_per_second": users as f64 / seconds,
                "p50_us": percentile(0.50).as_micros() as u64,
                "p99_us": percentile(0.99).as_micros() as u64,
                "non2xx": all.non2xx,
                "posts": all.posts,
                "puts": all.puts,
            })
        );
        Ok(())
    })
}
