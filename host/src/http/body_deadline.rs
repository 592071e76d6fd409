//! A request body must arrive whole within the server's body read timeout: a client that
//! trickles its body (a byte now and then) would otherwise hold a connection, a task and,
//! on the SCIM endpoints, an admitted slot of its realm for as long as it likes.

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt as _;
use std::sync::Arc;
use std::time::Duration;

/// The error a body read gets past the deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTooSlow(pub Duration);

/// Wraps every request body that has one in the deadline.
pub async fn body_deadline(State(app): State<Arc<crate::app::App>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.size_hint().exact() == Some(0) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let timeout = app.config.body_read_timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let chunks = futures_util::stream::unfold(Some(body.into_data_stream()), move |stream| async move {
        let mut stream = stream?;
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(chunk)) => Some((chunk.map_err(axum::BoxError::from), Some(stream))),
            Ok(None) => None,
            Err(_) => Some((Err(axum::BoxError::from(BodyTooSlow(timeout))), None)),
        }
    });
    next.run(Request::from_parts(parts, Body::from_stream(chunks))).await
}
