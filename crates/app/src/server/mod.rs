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
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

pub use assets::bundled;
pub use error::ApiError;
pub use state::{AppState, CompareWith, Current, JobState, Limits};

/// The address served when `--host` is not given: this machine only.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The port served when `--port` is not given.
pub const DEFAULT_PORT: u16 = 8765;

/// Every route: `/api/…` and the viewer's files.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits().max_body;
    let local_only = state.limits().local_only;
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
        .route("/api/diff", get(api::diff))
        .route("/api", get(api_not_found).post(api_not_found))
        .route("/api/", get(api_not_found).post(api_not_found))
        .route("/api/{*rest}", get(api_not_found).post(api_not_found))
        .fallback(assets::static_file)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(
            move |req: Request, next: Next| async move {
                if local_only && !is_local_host(&req) {
                    return ApiError::Forbidden(
                        "this server answers only requests addressed to localhost".into(),
                    )
                    .into_response();
                }
                next.run(req).await
            },
        ))
        .with_state(state)
}

/// True when the request's `Host` names this machine by a loopback name (or is absent, as
/// in-process requests are). A page on another site that re-points its own name at 127.0.0.1
/// (DNS rebinding) still sends its own name, and is refused.
fn is_local_host(req: &Request) -> bool {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let Some(host) = hosts.next() else {
        return true;
    };
    // several Host headers: which one a proxy would honour is not ours to guess
    if hosts.next().is_some() {
        return false;
    }
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint {}", uri.path()))
}

/// Bind the listening socket (port 0: any free port).
pub async fn bind(host: IpAddr, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = SocketAddr::new(host, port);
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        if port == 0 {
            format!("cannot listen on {addr} (is {host} an address of this machine? see --host)")
        } else {
            format!(
                "cannot listen on {addr} (is another server using port {port}? try --port; \
                 is {host} an address of this machine? see --host)"
            )
        }
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
