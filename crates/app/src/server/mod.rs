//! The HTTP server: an axum router over the API handlers and the embedded viewer.
//!
//! It binds 127.0.0.1 unless told otherwise, limits request bodies, runs traces on a blocking
//! thread (one at a time) while it keeps answering, and stops cleanly on Ctrl-C.

mod api;
mod assets;
mod error;
mod state;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use assets::bundled;
pub use error::ApiError;
pub use state::{AppState, Current, JobState, Limits};

/// The address served when `--host` is not given: this machine only.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The port served when `--port` is not given.
pub const DEFAULT_PORT: u16 = 8765;

/// Every route: `/api/…` and the viewer's files.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits().max_body;
    Router::new()
        .route("/api/graph", get(api::graph))
        .route("/api/presets", get(api::presets))
        .route("/api/tensor/{id}", get(api::tensor_values))
        .route("/api/attention/{id}", get(api::attention))
        .route("/api/code/{id}", get(api::code))
        .route("/api/source", get(api::source))
        .route("/api/trace", post(api::start_trace))
        .route("/api/trace/status", get(api::trace_status))
        .route("/api/lens", get(api::lens))
        .route("/api/{*rest}", get(api_not_found).post(api_not_found))
        .fallback(assets::static_file)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint {}", uri.path()))
}

/// Bind the listening socket (port 0: any free port).
pub async fn bind(host: IpAddr, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = SocketAddr::new(host, port);
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (is another server using port {port}? try --port)")
    })
}

/// Serve until `shutdown` resolves, then finish the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server stopped on an error")
}
