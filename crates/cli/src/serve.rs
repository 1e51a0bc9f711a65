//! Serving HTTP for every couponrush process: hyper's HTTP/1.1 server driven directly,
//! so that what each open connection holds is ours to size, with the graceful shutdown
//! of `axum::serve` (stop accepting, let in-flight requests finish and close idle
//! connections, then return; the caller drains what comes after, e.g. the batch writer).
//!
//! Measured (release, 10,000 keep-alive connections each idle after one request, RSS
//! growth per connection): `axum::serve` 28.6 KB (its auto-detecting HTTP/1 + HTTP/2
//! connection), hyper's HTTP/1 connection 10.5 KB, nearly all of it the two 8 KiB
//! buffers hyper starts every connection with (read, and response heads) as far as they
//! are touched. HTTP/2 is not served: no client of ours speaks it (h2c, without TLS).

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tower::ServiceExt as _;

/// Bound on a connection's read buffer (request head, or body bytes not yet taken);
/// hyper's default is ~400 KiB, which 10,000 connections could grow into 4 GB. A request
/// head past it is answered 431; bodies are read through it in pieces (and limited to
/// 16 KiB by the API anyway).
const MAX_BUF_SIZE: usize = 16 * 1024;

/// Binds a listener whose accept queue holds `backlog` connections (the kernel caps it
/// at `net.core.somaxconn`). `TcpListener::bind` asks for 128: when an event opens,
/// thousands of clients connect in the same millisecond, the queue overflows, and the
/// kernel drops their handshakes, which the clients retry only after 1 s, then 3 s —
/// a rush answered in milliseconds measured as seconds (counted in `ListenOverflows`
/// of `/proc/net/netstat`).
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std's bind: a restarted server may bind while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Serves `router` on `listener` until `shutdown` resolves and every connection is done.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = http1::Builder::new();
    http.max_buf_size(MAX_BUF_SIZE)
        // Response bodies are queued and written with writev rather than copied into the
        // head buffer, which would keep the capacity of the largest response (a
        // `/metrics` page, the OpenAPI document) for the connection's lifetime.
        .writev(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer address, for handlers that count attempts per client (axum's
        // `ConnectInfo`, which `into_make_service_with_connect_info` would insert).
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    // No new connections; those open finish their request in flight, idle ones close.
    drop(listener);
    graceful.shutdown().await;
}

/// As `axum::serve`: a client that gave up is no error; anything else (out of file
/// descriptors, say) is logged and accepting pauses for a second rather than spinning.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::{mpsc, oneshot};

    const GET: &[u8] = b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n";

    /// Reads one response of a handler answering "done" (Content-Length 4).
    async fn read_response(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.ends_with(b"done") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(answer).unwrap()
    }

    #[tokio::test]
    async fn shutdown_finishes_the_request_in_flight_and_closes_idle_connections() {
        let (entered_tx, mut entered) = mpsc::channel::<oneshot::Sender<()>>(4);
        let router = Router::new().route(
            "/slow",
            get(move || {
                let entered = entered_tx.clone();
                async move {
                    let (release, released) = oneshot::channel();
                    entered.send(release).await.unwrap();
                    released.await.unwrap();
                    "done"
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));

        // One connection served once and left idle, one with a request in flight.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(GET).await.unwrap();
        entered.recv().await.unwrap().send(()).unwrap();
        assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));
        let mut busy = TcpStream::connect(addr).await.unwrap();
        busy.write_all(GET).await.unwrap();
        let release = entered.recv().await.unwrap();

        stop.send(()).unwrap();
        // Once the server has seen the signal it accepts no one.
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
        let mut rest = Vec::new();
        idle.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the idle connection is closed");
        assert!(!server.is_finished(), "a request is still in flight");

        release.send(()).unwrap();
        let answer = read_response(&mut busy).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_burst_of_connects_waits_in_the_accept_queue() {
        // Nobody accepts: every handshake has to be held by the kernel's accept queue.
        // A full queue drops the SYN (the client would retry after 1 s, 3 s, ...), so
        // with the default backlog of 128 most of these connects never complete.
        const BURST: usize = 600;
        let listener = bind("127.0.0.1:0".parse().unwrap(), 1_024).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = (0..BURST)
            .map(|_| tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)));
        let done = futures::future::join_all(connects).await;
        let connected = done.iter().filter(|c| matches!(c, Ok(Ok(_)))).count();
        assert_eq!(
            connected, BURST,
            "every connect completes while nobody accepts"
        );
        drop(listener);
    }
}
