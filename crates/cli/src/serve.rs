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
//!
//! What a connection holds while a request is in flight is sized here too (see
//! [`RouterService`]): the request head is copied out of hyper's read buffer, so the
//! read hyper makes meanwhile (to notice a client that left) reuses that buffer instead
//! of allocating a second one, and the router's future is boxed, so it takes memory only
//! while a request runs rather than a slot of its size for the connection's lifetime.

use crate::append_waiters;
use crate::connection::{self, Admission, InProgress, Session, Shared};
use crate::request_limit::{RequestLimit, Turn};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
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

/// Serves `router` on `listener` until `shutdown` resolves and every connection is done;
/// with a `limit`, at most that many requests run at once (see `request_limit`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limit: Option<RequestLimit>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve_shared(
        listener,
        Arc::new(Shared::new(router, limit, http())),
        shutdown,
    )
    .await;
}

/// hyper's HTTP/1 settings for every connection.
fn http() -> http1::Builder {
    let mut http = http1::Builder::new();
    http.max_buf_size(MAX_BUF_SIZE)
        // Response bodies are queued and written with writev rather than copied into the
        // head buffer, which would keep the capacity of the largest response (a
        // `/metrics` page, the OpenAPI document) for the connection's lifetime.
        .writev(true);
    http
}

/// [`serve`] with the connections' shared part made by the caller (tests read it).
pub(crate) async fn serve_shared(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Every connection holds a receiver: `closed` below returns when the last is done.
    let (stop, stop_seen) = watch::channel(false);
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
        tokio::spawn(connection::drive(
            stream,
            peer,
            shared.clone(),
            stop_seen.clone(),
        ));
    }
    // No new connections; those open finish their request in flight, parked ones close.
    drop(listener);
    drop(stop_seen);
    let _ = stop.send(true);
    stop.closed().await;
}

/// The router as hyper's service for one session of a connection (see `connection`).
///
/// hyper parses a request head into slices of the connection's read buffer (header
/// values and the URI share it), and right after handing the request over it reads
/// again, to notice a client that leaves mid-request. That read must reserve 8 KiB; with
/// the buffer still shared by the head, it allocates a second buffer, held until the
/// session ends. `call` runs before that read, so it copies the head's few hundred
/// bytes out and drops the slices: the read then reclaims the one buffer. Measured in
/// heaptrack before this (a 10,000-user rush): the second buffers were 68.5 MB at peak,
/// a quarter of the process.
///
/// The future is boxed: hyper keeps one slot of the service future's size per
/// connection for its whole life, a box only while a request runs.
///
/// A request usually got its turn before hyper read it (`Admission`, see `connection`);
/// one that did not (a pipelining client's) waits for its turn here, holding only its
/// head and a small future until then; the router's future is made when the turn
/// comes.
pub(crate) struct RouterService {
    router: Router,
    limit: Option<RequestLimit>,
    /// The peer address, for handlers that count attempts per client (axum's
    /// `ConnectInfo`, which `into_make_service_with_connect_info` would insert).
    peer: SocketAddr,
    session: Arc<Session>,
}

impl RouterService {
    pub(crate) fn new(shared: &Shared, peer: SocketAddr, session: Arc<Session>) -> Self {
        Self {
            router: shared.router.clone(),
            limit: shared.limit.clone(),
            peer,
            session,
        }
    }
}

impl RouterService {
    /// The turn of a request read with no decision: none if its path needs none, a
    /// free one, or the limit to wait on (`Err`).
    fn turn_now(&self, path: &str) -> Result<Option<Turn>, RequestLimit> {
        match self
            .limit
            .as_ref()
            .filter(|_| couponrush_api::waits_for_a_turn(path))
        {
            None => Ok(None),
            Some(limit) => limit.try_turn().map(Some).ok_or_else(|| limit.clone()),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for RouterService {
    type Response = axum::http::Response<Answer>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let has_body = !request.body().is_end_stream();
        let in_progress = self.session.begin(has_body);
        let mut request = detach_head(request).map(|body| {
            axum::body::Body::new(ReadToEnd {
                body,
                session: has_body.then(|| in_progress.session().clone()),
            })
        });
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        let lend = self.limit.as_ref().is_some_and(RequestLimit::lends);
        let answer = |response: Response| {
            response.map(|body| Answer {
                body,
                _in_progress: in_progress,
            })
        };
        let turn = match self.session.take_admission() {
            // Decided before hyper read it, from the same path (see `connection`).
            Some(Admission::Free) => None,
            Some(Admission::Turn(turn)) => Some(turn),
            Some(Admission::Refused) => {
                let busy = crate::request_limit::busy(&request);
                return Box::pin(async move { Ok(answer(busy)) });
            }
            // Read with no decision (a pipelining client's next request): decided here.
            None => match self.turn_now(request.uri().path()) {
                Ok(turn) => turn,
                Err(limit) => {
                    return Box::pin(async move {
                        let Some(turn) = limit.wait_turn().await else {
                            return Ok(answer(crate::request_limit::busy(&request)));
                        };
                        // Boxed apart: the waiting future stays small.
                        let response = Box::pin(append_waiters::holding(
                            Some(turn),
                            lend,
                            router.oneshot(request),
                        ))
                        .await?;
                        Ok(answer(response))
                    });
                }
            },
        };
        Box::pin(async move {
            let response = append_waiters::holding(turn, lend, router.oneshot(request)).await?;
            Ok(answer(response))
        })
    }
}

/// An answer's body; its request stays in progress (the connection is not parked)
/// until hyper has written it and dropped it.
pub(crate) struct Answer {
    body: axum::body::Body,
    _in_progress: InProgress,
}

impl HttpBody for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that tells its session when it was read to its end; until then the
/// connection is not parked (hyper would still have to read or discard the rest).
struct ReadToEnd {
    body: Incoming,
    /// Present until the end was reached; absent for a request without a body (its
    /// session never counted it as unread).
    session: Option<Arc<Session>>,
}

impl HttpBody for ReadToEnd {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.body.is_end_stream(),
            _ => false,
        };
        if ended && let Some(session) = self.session.take() {
            session.body_read();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The request with its URI and header values copied into allocations of their own, so
/// that nothing of it refers to hyper's read buffer any more (header names and methods
/// are already owned or static).
fn detach_head<B>(request: Request<B>) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    // `Uri::from_str` copies; a URI hyper parsed always parses again.
    if let Ok(uri) = parts.uri.to_string().parse() {
        parts.uri = uri;
    }
    for value in parts.headers.values_mut() {
        if let Ok(mut owned) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
            owned.set_sensitive(value.is_sensitive());
            *value = owned;
        }
    }
    Request::from_parts(parts, body)
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
    use crate::connection::Parking;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::{mpsc, oneshot};

    const GET: &[u8] = b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n";
    const GET_QUICK: &[u8] = b"GET /quick HTTP/1.1\r\nhost: t\r\n\r\n";

    /// A route that answers "done" only when released: each request, once running,
    /// sends the sender that releases it.
    fn slow_route() -> (
        axum::routing::MethodRouter,
        mpsc::Receiver<oneshot::Sender<()>>,
    ) {
        let (entered_tx, entered) = mpsc::channel::<oneshot::Sender<()>>(4);
        let route = get(move || {
            let entered = entered_tx.clone();
            async move {
                let (release, released) = oneshot::channel();
                entered.send(release).await.unwrap();
                released.await.unwrap();
                "done"
            }
        });
        (route, entered)
    }

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
        let (slow, mut entered) = slow_route();
        let router = Router::new().route("/slow", slow);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, None, async {
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

    /// A request head parsed as hyper does it: the URI and header values are slices of
    /// the connection's read buffer, which is left behind empty.
    fn parsed_head(buffer: &mut bytes::BytesMut) -> Request<()> {
        buffer.extend_from_slice(b"/api/coupons/1/issue?x=1Bearer abcdefghijklmnopqrstuvwxyz");
        let head = buffer.split().freeze();
        let mut request = Request::new(());
        *request.uri_mut() = axum::http::Uri::from_maybe_shared(head.slice(0..24)).unwrap();
        let value = axum::http::HeaderValue::from_maybe_shared(head.slice(24..)).unwrap();
        request.headers_mut().insert("authorization", value);
        request
    }

    #[test]
    fn a_detached_head_lets_the_read_buffer_be_reused() {
        let mut buffer = bytes::BytesMut::with_capacity(8192);
        let request = parsed_head(&mut buffer);
        assert!(
            !buffer.try_reclaim(8192),
            "while the head refers to it, a read needs a second buffer"
        );

        let mut buffer = bytes::BytesMut::with_capacity(8192);
        let request_detached = detach_head(parsed_head(&mut buffer));
        assert!(
            buffer.try_reclaim(8192),
            "the next read reuses the buffer once the head is detached"
        );
        assert_eq!(request_detached.uri(), request.uri());
        assert_eq!(request_detached.headers(), request.headers());
    }

    /// Sends one GET on a fresh connection and reads the whole answer (the server
    /// closes after it: `connection: close`).
    async fn get_once(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8(answer).unwrap()
    }

    #[tokio::test]
    async fn past_the_limit_a_request_waits_its_turn_and_probes_do_not() {
        let (slow, mut entered) = slow_route();
        let router = Router::new()
            .route("/slow", slow)
            .route("/health", get(|| async { "done" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limit = RequestLimit::new(1, Duration::from_millis(300));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, Some(limit), async {
            let _ = stopped.await;
        }));

        // The one turn is taken by a request that is still running.
        let first = tokio::spawn(get_once(addr, "/slow"));
        let release_first = entered.recv().await.unwrap();

        // A probe does not wait for it.
        assert!(get_once(addr, "/health").await.starts_with("HTTP/1.1 200"));
        // Another request waits, and past request_queue_timeout it is turned away
        // without the route having run.
        let refused = get_once(addr, "/slow").await;
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(refused.contains("SERVER_BUSY"), "{refused}");
        assert!(
            refused.to_ascii_lowercase().contains("retry-after: 1"),
            "{refused}"
        );
        assert!(
            refused.to_ascii_lowercase().contains("x-global-trace-id"),
            "{refused}"
        );
        assert!(entered.try_recv().is_err(), "the refused request never ran");

        // A request waiting when the turn frees up gets it.
        let second = tokio::spawn(get_once(addr, "/slow"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(entered.try_recv().is_err(), "it waits while the first runs");
        release_first.send(()).unwrap();
        entered.recv().await.unwrap().send(()).unwrap();
        assert!(first.await.unwrap().starts_with("HTTP/1.1 200"));
        assert!(second.await.unwrap().starts_with("HTTP/1.1 200"));

        stop.send(()).unwrap();
        server.await.unwrap();
    }

    /// A server of `router` whose connections' shared part the test can read.
    type Started = (
        SocketAddr,
        Arc<Shared>,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    );

    fn start(router: Router) -> Started {
        start_limited(router, None)
    }

    fn start_limited(router: Router, limit: Option<RequestLimit>) -> Started {
        let parking = Parking::for_limit(limit.as_ref());
        start_parking(router, limit, parking)
    }

    fn start_parking(router: Router, limit: Option<RequestLimit>, parking: Parking) -> Started {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let mut shared = Shared::new(router, limit, http());
        shared.parking = parking;
        let shared = Arc::new(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_shared(listener, shared.clone(), async {
            let _ = stopped.await;
        }));
        (addr, shared, stop, server)
    }

    /// Waits until `shared` counts `parks` parked sessions.
    async fn parked(shared: &Shared, parks: u64) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while shared.parked_total() < parks {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never parked {parks} times: {}", shared.parked_total()));
    }

    fn quick_router() -> Router {
        Router::new()
            .route("/quick", get(|| async { "done" }))
            .route(
                "/echo",
                axum::routing::post(|body: String| async move { format!("{body}done") }),
            )
            .route("/ignore", axum::routing::post(|| async { "done" }))
    }

    #[tokio::test]
    async fn a_keep_alive_connection_is_parked_between_requests_and_served_again() {
        let (addr, shared, stop, server) = start(quick_router());
        let mut stream = TcpStream::connect(addr).await.unwrap();
        for parks in 1..=3 {
            stream
                .write_all(b"GET /quick HTTP/1.1\r\nhost: t\r\n\r\n")
                .await
                .unwrap();
            let answer = read_response(&mut stream).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(
                !answer.to_ascii_lowercase().contains("connection: close"),
                "{answer}"
            );
            parked(&shared, parks).await;
        }
        // Parked, the connection still notices the server stopping: it is closed.
        stop.send(()).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn pipelined_and_piecemeal_requests_are_answered_in_order_across_parking() {
        let (addr, shared, _stop, _server) = start(quick_router());
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // Two requests in one write: the second is read with the first, and must be
        // served after it, not lost when the session parks.
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\nonePOST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\ntwo")
            .await
            .unwrap();
        let mut answers = String::new();
        while answers.matches("done").count() < 2 {
            answers.push_str(&read_response(&mut stream).await);
        }
        let (one, two) = (
            answers.find("onedone").unwrap(),
            answers.find("twodone").unwrap(),
        );
        assert!(one < two, "{answers}");
        parked(&shared, 1).await;

        // A head and a body that arrive in pieces, after the connection was parked.
        stream.write_all(b"POST /echo HT").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        stream
            .write_all(b"TP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nthr")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        stream.write_all(b"ee").await.unwrap();
        let answer = read_response(&mut stream).await;
        assert!(answer.ends_with("threedone"), "{answer}");
    }

    #[tokio::test]
    async fn an_empty_body_a_handler_reads_leaves_the_connection_parkable() {
        let (addr, shared, _stop, _server) = start(quick_router());
        let mut stream = TcpStream::connect(addr).await.unwrap();
        for parks in 1..=2 {
            // The handler reads the (empty) body to its end.
            stream
                .write_all(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            assert!(read_response(&mut stream).await.ends_with("\r\n\r\ndone"));
            parked(&shared, parks).await;
        }
    }

    #[tokio::test]
    async fn a_body_the_handler_left_unread_is_never_read_as_a_request() {
        let (addr, shared, _stop, _server) = start(quick_router());
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The handler answers without reading the body, which comes after the answer
        // and looks like a request. Parked at that point, the connection would serve
        // it; hyper instead ends the connection (it does not wait for a body nobody
        // reads).
        const BODY: &[u8] = b"GET /quick HTTP/1.1\r\nhost: t\r\n\r\n";
        let head = format!(
            "POST /ignore HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
            BODY.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = read_response(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = stream.write_all(BODY).await;
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "the connection was left open: {}",
            shared.parked_total()
        );
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
        assert_eq!(shared.parked_total(), 0, "not parked with a body unread");
    }

    #[tokio::test]
    async fn past_the_crowd_bound_a_quiet_session_is_parked_at_once() {
        // A quiet spell of an hour: only the crowd bound can park these sessions.
        let hour = Duration::from_secs(3600);
        let roomy = Parking {
            quiet: hour,
            crowd: 2,
        };
        let crowded = Parking {
            quiet: hour,
            crowd: 1,
        };
        for (parking, parks) in [(roomy, false), (crowded, true)] {
            let (addr, shared, _stop, _server) = start_parking(quick_router(), None, parking);
            let mut first = TcpStream::connect(addr).await.unwrap();
            let mut second = TcpStream::connect(addr).await.unwrap();
            for stream in [&mut first, &mut second] {
                stream.write_all(GET_QUICK).await.unwrap();
                assert!(read_response(stream).await.starts_with("HTTP/1.1 200"));
            }
            if parks {
                // Two sessions against a bound of one: the first to look is parked.
                parked(&shared, 1).await;
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert_eq!(
                    shared.parked_total(),
                    0,
                    "two sessions within a bound of two"
                );
            }
            // Served again either way, parked or not.
            for stream in [&mut first, &mut second] {
                stream.write_all(GET_QUICK).await.unwrap();
                assert!(read_response(stream).await.starts_with("HTTP/1.1 200"));
            }
        }
    }

    #[tokio::test]
    async fn a_request_that_must_wait_for_its_turn_waits_parked() {
        let (slow, mut entered) = slow_route();
        let router = quick_router().route("/slow", slow);
        let limit = RequestLimit::new(1, Duration::from_secs(30));
        let (addr, shared, _stop, _server) = start_limited(router, Some(limit));
        let mut waiter = TcpStream::connect(addr).await.unwrap();
        waiter
            .write_all(b"GET /quick HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        assert!(read_response(&mut waiter).await.starts_with("HTTP/1.1 200"));

        // The one turn is taken; the waiter's next request, sent on its live session,
        // must wait: it is parked for the wait rather than held by hyper.
        let mut holder = TcpStream::connect(addr).await.unwrap();
        holder.write_all(GET).await.unwrap();
        let release = entered.recv().await.unwrap();
        let parks_before = shared.parked_total();
        waiter
            .write_all(b"GET /quick HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        parked(&shared, parks_before + 1).await;

        release.send(()).unwrap();
        assert!(read_response(&mut holder).await.starts_with("HTTP/1.1 200"));
        let answer = read_response(&mut waiter).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn shutdown_does_not_wait_for_a_request_that_never_began() {
        let limit = RequestLimit::new(4, Duration::from_secs(30));
        let (addr, _shared, stop, server) = start_limited(quick_router(), Some(limit));
        // Half a head, then nothing: the connection has a session but no request.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /qu").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stopped without waiting for the client")
            .unwrap();
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
