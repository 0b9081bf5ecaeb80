//! The HTTP endpoint serving `/metrics` (GET, Prometheus text format 0.0.4).

use super::MetricsSource;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn respond(status: StatusCode, ctype: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", ctype)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn handle(node: Arc<MetricsSource>, req: hyper::Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        return respond(StatusCode::NOT_FOUND, "text/plain", "not found: metrics are at /metrics\n".into());
    }
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use GET\n".into());
    }
    // Rendering locks the chain, which block connection may hold for a while.
    match tokio::task::spawn_blocking(move || super::render(&node)).await {
        Ok(text) => respond(StatusCode::OK, CONTENT_TYPE, text),
        Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n")),
    }
}

/// Binds `addr` and serves until `stop` turns true; returns the bound address and the task.
pub async fn start(
    node: &Arc<MetricsSource>,
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let source = node.clone();
    let handle = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, _)) => {
                        let w = source.clone();
                        conns.spawn(async move {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let svc = hyper::service::service_fn(move |req| {
                                let w = w.clone();
                                async move { Ok::<_, std::convert::Infallible>(handle(w, req).await) }
                            });
                            let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, svc);
                            let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
                        });
                    }
                    Err(e) => {
                        tracing::warn!(target: "blvm::metrics", "accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = stop.changed() => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.abort_all();
    });
    Ok((bound, handle))
}
