//! A webhook receiver for the tests: an HTTP server on an ephemeral port that keeps every
//! delivery it is sent (headers and body) and answers as the test tells it to: a status,
//! after a delay, or not at all (it stops listening).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Delivery {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a delivery is JSON")
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Delivery>>,
    /// The status it answers (200 until told otherwise).
    status: AtomicU16,
    /// How long it waits before it answers, in milliseconds.
    delay_ms: AtomicU64,
    /// Refuses (500) the first delivery of each message, then accepts it again.
    refuse_first: std::sync::atomic::AtomicBool,
    /// The message ids seen, and how many deliveries were refused.
    seen: Mutex<std::collections::HashSet<String>>,
    refused: AtomicU64,
}

/// A running receiver.
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    port: u16,
}

impl Receiver {
    /// Starts a receiver on an ephemeral port.
    pub async fn start() -> Receiver {
        Self::start_on(0).await
    }

    /// Starts a receiver on `port` (0: any).
    pub async fn start_on(port: u16) -> Receiver {
        let shared = Arc::new(Shared { status: AtomicU16::new(200), ..Default::default() });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("a port for the receiver");
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(receive).with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async { drop(stopped.await) }).await;
        });
        Receiver { url: format!("http://127.0.0.1:{port}/hook"), shared, stop: Some(stop), port }
    }

    /// The port it listens on (to start a receiver there again after [`Receiver::stop`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Answers with `status` from now on.
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::Relaxed);
    }

    /// Waits this long before each answer from now on.
    pub fn delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Refuses the first delivery of every message from now on (a flaky receiver): each
    /// is accepted when sent again.
    pub fn refuse_first_attempts(&self) {
        self.shared.refuse_first.store(true, Ordering::Relaxed);
    }

    /// How many deliveries it refused.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Every delivery received so far, in the order received.
    pub fn received(&self) -> Vec<Delivery> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries have arrived (at most 20 s); returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        let started = std::time::Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{} deliveries of {n} after 20 s", received.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops listening: deliveries fail to connect until a receiver listens on its port again.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let delay = shared.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut status = StatusCode::from_u16(shared.status.load(Ordering::Relaxed)).unwrap_or(StatusCode::OK);
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if shared.refuse_first.load(Ordering::Relaxed) && shared.seen.lock().unwrap().insert(id) {
        status = StatusCode::INTERNAL_SERVER_ERROR;
    }
    if !status.is_success() {
        shared.refused.fetch_add(1, Ordering::Relaxed);
    }
    // Kept only when accepted: a refused delivery is one the sender must send again.
    if status.is_success() {
        shared.received.lock().unwrap().push(Delivery { headers, body });
    }
    status
}
