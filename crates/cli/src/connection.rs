//! One client connection, parked between requests.
//!
//! hyper's HTTP/1 connection starts with two 8 KiB buffers (reading, and response heads)
//! and keeps them, and its task, for the connection's whole life: ~13.5 KB resident per
//! connection once busy. With 10,000 users each on a connection of their own, that was
//! ~135 MB of a 230–260 MB peak, whether the users were idle after their answer or
//! waiting for their turn (`request_limit`). So hyper is handed a connection only while
//! a request is read, run and answered. Once every answer is on the socket and the
//! client is quiet, hyper's state is dropped and the connection is *parked*: it holds its
//! socket and a small task, and waits for the kernel to say the client sent again (no
//! buffer while it waits). A request that has to wait for its turn waits parked too: the
//! turn is taken before hyper sees the connection, from the path in the request line,
//! read by peeking at the socket (nothing consumed).
//!
//! Parking must be invisible to the client, so it happens only when hyper is between
//! requests: at least one request answered, none in progress, every answer's bytes
//! handed to the socket (no write waiting), every request body read to its end. Bytes
//! hyper had read past the last request (a pipelining client's next request) are put
//! in front of the socket for the next session. A connection where that never holds (a
//! handler left a body unread) stays with hyper, as every connection did before.

use crate::request_limit::{RequestLimit, Turn};
use crate::serve::RouterService;
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use couponrush_telemetry::metrics::Occupancy;
use couponrush_telemetry::metrics::names::{HTTP_CONNECTIONS_ACTIVE, HTTP_CONNECTIONS_OPEN};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use metrics::Gauge;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::ready;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) router: Router,
    pub(crate) limit: Option<RequestLimit>,
    http: http1::Builder,
    /// Sessions that ended parked (the connection stayed open for its next request).
    parked: AtomicU64,
    /// hyper sessions alive now (see [`SESSIONS_BEFORE_EAGER_PARKING`]).
    sessions: AtomicUsize,
    /// When a quiet session is parked.
    pub(crate) parking: Parking,
    /// `couponrush_http_connections_open` / `_active`, looked up once (a lookup per
    /// connection and session showed in profiles of a rush).
    open: Gauge,
    active: Gauge,
}

impl Shared {
    pub(crate) fn new(router: Router, limit: Option<RequestLimit>, http: http1::Builder) -> Self {
        Self {
            parking: Parking::for_limit(limit.as_ref()),
            router,
            limit,
            http,
            parked: AtomicU64::new(0),
            sessions: AtomicUsize::new(0),
            open: metrics::gauge!(HTTP_CONNECTIONS_OPEN),
            active: metrics::gauge!(HTTP_CONNECTIONS_ACTIVE),
        }
    }

    /// How many times a connection was parked between requests.
    #[cfg(test)]
    pub(crate) fn parked_total(&self) -> u64 {
        self.parked.load(Ordering::Relaxed)
    }
}

/// How the request that woke a parked connection gets its turn.
pub(crate) enum Admission {
    /// It does not wait for one (a probe, signing in, or no limit).
    Free,
    /// Its turn, taken while parked.
    Turn(Turn),
    /// No turn within the wait: answered 503 SERVER_BUSY without running.
    Refused,
}

/// How long a session's client may stay quiet before its connection is parked. A client
/// that sends its next request sooner (a keep-alive client in a loop) is served by the
/// same hyper session, so parking costs the busy connections nothing; a user who got
/// their answer and went quiet is parked after this.
const QUIET_BEFORE_PARKING: Duration = Duration::from_millis(10);

/// When a session whose client is quiet gives its buffers back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parking {
    pub(crate) quiet: Duration,
    pub(crate) crowd: usize,
}

impl Parking {
    /// Sessions that hold a turn never count as a crowd: an api node's 3,072 turns may
    /// all be in hyper at once.
    pub(crate) fn for_limit(limit: Option<&RequestLimit>) -> Self {
        Self {
            quiet: QUIET_BEFORE_PARKING,
            crowd: SESSIONS_BEFORE_EAGER_PARKING.max(limit.map_or(0, RequestLimit::size)),
        }
    }
}

/// hyper sessions (or the turns, if more) past which a quiet one is parked at once
/// instead of after [`QUIET_BEFORE_PARKING`]. Requests that wait for a turn bound the
/// sessions by themselves (one that finds no turn waits parked), but probes and signing
/// in never wait: 10,000 keep-alive clients asking for `/health` in a loop each sent
/// their next request within the quiet spell, so every one of them kept a session
/// (~13.5 KB) and the embedded server reached 203–208 MB. Past this many, a session
/// whose client has not yet sent its next request gives its buffers back; the request,
/// when it comes, starts a new one. Up to ~28 MB of sessions below the bound.
const SESSIONS_BEFORE_EAGER_PARKING: usize = 2_048;

/// Serves `stream` until the client closes it or the server stops (`stop` turns true:
/// a parked connection closes at once, a request in progress is answered first).
pub(crate) async fn drive(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let _open = Occupancy::of(shared.open.clone());
    // Shared with the session's socket wrapper, so that the session can watch the
    // socket while hyper waits at the gate (see `Session`).
    let stream = Arc::new(stream);
    // Bytes read from the socket but not yet served (a pipelined request).
    let mut ahead = Bytes::new();
    loop {
        if ahead.is_empty() {
            tokio::select! {
                ready = stream.readable() => if ready.is_err() { return },
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
        }
        // The steps below are boxed: a task keeps a slot of its largest step's size for
        // the connection's life, and a parked connection should hold only its wait.
        // The server stopping ends the wait too: nothing of this request ran (it is not
        // answered; a client retries it as it would any lost connection).
        let admission = tokio::select! {
            admission = Box::pin(admit(&stream, &ahead, shared.limit.as_ref())) => admission,
            _ = stop.wait_for(|stopping| *stopping) => None,
        };
        let Some(admission) = admission else {
            // The client closed the connection (or it broke) while parked.
            return;
        };
        let stopping = *stop.borrow();
        let session = serve_session(
            stream.clone(),
            ahead,
            peer,
            &shared,
            admission,
            &mut stop,
            stopping,
        );
        match Box::pin(session).await {
            Some(parked_ahead) => {
                shared.parked.fetch_add(1, Ordering::Relaxed);
                ahead = parked_ahead;
            }
            None => return,
        }
    }
}

/// The turn for the request that woke a parked connection, decided from its request
/// line (peeked at: the readiness that woke the connection may be stale, and a turn
/// must never be held for a request that has not come); `None` if the client closed.
async fn admit(
    stream: &TcpStream,
    ahead: &Bytes,
    limit: Option<&RequestLimit>,
) -> Option<Admission> {
    let Some(limit) = limit else {
        return Some(Admission::Free);
    };
    if !next_request_waits(stream, ahead).await? {
        return Some(Admission::Free);
    }
    if let Some(turn) = limit.try_turn() {
        return Some(Admission::Turn(turn));
    }
    Some(match limit.wait_turn().await {
        Some(turn) => Admission::Turn(turn),
        None => Admission::Refused,
    })
}

/// One hyper session on the connection: from the request that woke it until hyper is
/// between requests and the connection should be parked (the bytes ahead are handed
/// back) or the connection is done (`None`).
async fn serve_session(
    stream: Arc<TcpStream>,
    ahead: Bytes,
    peer: SocketAddr,
    shared: &Shared,
    admission: Admission,
    stop: &mut watch::Receiver<bool>,
    mut stopping: bool,
) -> Option<Bytes> {
    let _active = ActiveSession::enter(shared);
    let session = Arc::new(Session::new(admission));
    let io = TokioIo::new(Watched {
        ahead,
        stream: stream.clone(),
        session: session.clone(),
    });
    let service = RouterService::new(shared, peer, session.clone());
    // Boxed: the parked connection's task must not keep a slot of hyper's size.
    let mut conn = Box::new(shared.http.serve_connection(io, service));
    if stopping {
        // Answer this request with `connection: close`, then end.
        Pin::new(&mut *conn).graceful_shutdown();
    }
    let mut parking = false;
    let mut stopped = std::pin::pin!(stop.wait_for(|stopping| *stopping));
    let mut quiet = Quiet::after(shared.parking.quiet);
    let done = poll_fn(|cx| {
        if !stopping && stopped.as_mut().poll(cx).is_ready() {
            if session.requests() == 0 {
                // No request has begun (the readiness that woke the connection was
                // stale, or a head is still coming): hyper would wait for one.
                return Poll::Ready(Ok(()));
            }
            Pin::new(&mut *conn).graceful_shutdown();
            stopping = true;
        }
        loop {
            let polled = conn.poll_without_shutdown(cx);
            if polled.is_ready() || parking || stopping || !session.at_gate() {
                return polled;
            }
            // hyper is between requests, held at the gate: what did the client send?
            match at_gate(&stream, shared.limit.as_ref(), cx) {
                Gate::Open(admission) => session.open_gate(admission),
                Gate::Quiet if !crowded(shared) && !quiet.for_long(session.requests(), cx) => {
                    return Poll::Pending;
                }
                Gate::Quiet | Gate::WaitParked => {
                    // hyper is idle: this closes its state (not the socket) at once.
                    Pin::new(&mut *conn).graceful_shutdown();
                    parking = true;
                }
            }
        }
    })
    .await;
    if let Err(e) = done {
        tracing::trace!(error = %e, "connection ended with an error");
        return None;
    }
    if !parking {
        return None;
    }
    let parts = conn.into_parts();
    let Watched { ahead, .. } = parts.io.into_inner();
    Some(join(parts.read_buf, ahead))
}

/// Too many hyper sessions for a quiet one to keep its buffers.
fn crowded(shared: &Shared) -> bool {
    shared.sessions.load(Ordering::Relaxed) > shared.parking.crowd
}

/// One hyper session alive, while held: in `couponrush_http_connections_active`, and
/// in [`Shared::sessions`], the same count kept where the crowd bound can read it (a
/// gauge cannot be read back).
struct ActiveSession<'a> {
    count: &'a AtomicUsize,
    _gauge: Occupancy,
}

impl<'a> ActiveSession<'a> {
    fn enter(shared: &'a Shared) -> Self {
        shared.sessions.fetch_add(1, Ordering::Relaxed);
        Self {
            count: &shared.sessions,
            _gauge: Occupancy::of(shared.active.clone()),
        }
    }
}

impl Drop for ActiveSession<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What to do with a session held at the gate.
enum Gate {
    /// Let hyper read the next request, with this turn.
    Open(Admission),
    /// The next request must wait for a turn: park, and wait parked.
    WaitParked,
    /// Nothing sent yet.
    Quiet,
}

/// Looks at the socket of a session held at the gate (registering the task for it if
/// nothing was sent). The request line is peeked at before a turn is taken: readiness
/// can be stale, and a turn handed to a session whose request never comes would be
/// held until the client spoke or left.
fn at_gate(stream: &TcpStream, limit: Option<&RequestLimit>, cx: &mut Context<'_>) -> Gate {
    let Some(limit) = limit else {
        return match stream.poll_read_ready(cx) {
            Poll::Pending => Gate::Quiet,
            // hyper reads what came (or meets the error).
            Poll::Ready(_) => Gate::Open(Admission::Free),
        };
    };
    let mut line = [0u8; 256];
    let mut line = ReadBuf::new(&mut line);
    match stream.poll_peek(cx, &mut line) {
        // Nothing sent yet; the task is registered for when something is.
        Poll::Pending => Gate::Quiet,
        // hyper meets the end (or the error) when it reads.
        Poll::Ready(Ok(0) | Err(_)) => Gate::Open(Admission::Free),
        Poll::Ready(Ok(_)) => {
            if !line_waits(line.filled()) {
                Gate::Open(Admission::Free)
            } else if let Some(turn) = limit.try_turn() {
                Gate::Open(Admission::Turn(turn))
            } else {
                Gate::WaitParked
            }
        }
    }
}

/// The quiet spell of a session between requests. The timer is not moved for every
/// request (a keep-alive client in a loop would move it thousands of times a second):
/// when it fires early, for a spell that began later, it is set again once.
struct Quiet {
    /// How long a spell must last.
    long: Duration,
    /// The request count the spell began after, and when.
    counted: usize,
    since: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Quiet {
    fn after(long: Duration) -> Self {
        Self {
            long,
            counted: 0,
            since: Instant::now(),
            timer: None,
        }
    }

    /// Whether the client has been quiet for the spell's length since request
    /// `requests` ended (the task is woken when it will have been).
    fn for_long(&mut self, requests: usize, cx: &mut Context<'_>) -> bool {
        let now = Instant::now();
        if requests != self.counted {
            (self.counted, self.since) = (requests, now);
        }
        let deadline = self.since + self.long;
        if now >= deadline {
            return true;
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_ready() {
            // It fired for an earlier spell.
            timer.as_mut().reset(deadline);
            let _ = timer.as_mut().poll(cx);
        }
        false
    }
}

/// `first` then `second`, copying only when both hold bytes (a pipelining client).
fn join(first: Bytes, second: Bytes) -> Bytes {
    match (first.is_empty(), second.is_empty()) {
        (_, true) => first,
        (true, false) => second,
        (false, false) => {
            let mut both = BytesMut::with_capacity(first.len() + second.len());
            both.extend_from_slice(&first);
            both.extend_from_slice(&second);
            both.freeze()
        }
    }
}

/// Whether the next request on the connection waits for a turn, from its request line
/// (in `ahead`, else peeked at on the socket); `None` if the client closed.
async fn next_request_waits(stream: &TcpStream, ahead: &Bytes) -> Option<bool> {
    if !ahead.is_empty() {
        return Some(line_waits(ahead));
    }
    let mut line = [0u8; 256];
    match stream.peek(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(line_waits(&line[..n])),
    }
}

/// Whether the request whose first bytes are `head` waits for a turn. A line that
/// cannot be read whole counts as waiting: the turn is the safe side.
fn line_waits(head: &[u8]) -> bool {
    request_path(head).is_none_or(couponrush_api::waits_for_a_turn)
}

/// The path of an HTTP/1 request line (`METHOD SP /path?query SP VERSION`), if `head`
/// holds it whole and it is in origin form.
fn request_path(head: &[u8]) -> Option<&str> {
    let start = head.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
    let line = &head[start..];
    let method_end = line.iter().position(|&b| b == b' ')?;
    let target = &line[method_end + 1..];
    let target = &target[..target.iter().position(|&b| b == b' ')?];
    if !target.starts_with(b"/") {
        return None;
    }
    let path = target.split(|&b| b == b'?').next()?;
    std::str::from_utf8(path).ok()
}

/// One hyper session's state, kept by the service (requests and answers) and the
/// socket wrapper (writes), read by the session's driver.
///
/// The gate: once hyper is between requests, the socket wrapper gives it nothing more
/// to read until the driver has looked at what the client sent. A request that can have
/// a turn at once (or needs none) is let through to the same hyper session, with its
/// turn; one that would have to wait for a turn waits parked instead, and a client that
/// stays quiet is parked. So hyper never holds a connection that waits for anything.
pub(crate) struct Session {
    requests: AtomicUsize,
    in_progress: AtomicUsize,
    unread_bodies: AtomicUsize,
    write_blocked: AtomicBool,
    /// The driver let the next request through the gate.
    gate_open: AtomicBool,
    /// How the next request gets its turn; taken by that request.
    admission: Mutex<Option<Admission>>,
}

impl Session {
    /// A session whose first request has `admission`.
    fn new(admission: Admission) -> Self {
        Self {
            requests: AtomicUsize::new(0),
            in_progress: AtomicUsize::new(0),
            unread_bodies: AtomicUsize::new(0),
            write_blocked: AtomicBool::new(false),
            gate_open: AtomicBool::new(true),
            admission: Mutex::new(Some(admission)),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Acquire)
    }

    /// hyper is between requests and the next one has not been let through.
    fn at_gate(&self) -> bool {
        !self.gate_open.load(Ordering::Acquire) && self.between_requests()
    }

    fn open_gate(&self, admission: Admission) {
        *self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(admission);
        self.gate_open.store(true, Ordering::Release);
    }

    /// The turn the request being begun brought through the gate, if any.
    pub(crate) fn take_admission(&self) -> Option<Admission> {
        self.admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// hyper is between requests: something was answered, nothing is in progress, the
    /// answers are all on the socket and every request body was read to its end.
    fn between_requests(&self) -> bool {
        self.requests.load(Ordering::Acquire) > 0
            && self.in_progress.load(Ordering::Acquire) == 0
            && self.unread_bodies.load(Ordering::Acquire) == 0
            && !self.write_blocked.load(Ordering::Acquire)
    }

    /// A request begins; it is in progress until the guard is dropped (its answer's
    /// body written, or the request abandoned).
    pub(crate) fn begin(self: &Arc<Self>, has_body: bool) -> InProgress {
        // The gate closes behind it: the request after it is looked at first.
        self.gate_open.store(false, Ordering::Release);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.in_progress.fetch_add(1, Ordering::AcqRel);
        if has_body {
            self.unread_bodies.fetch_add(1, Ordering::AcqRel);
        }
        InProgress(self.clone())
    }

    /// A request body was read to its end.
    pub(crate) fn body_read(&self) {
        self.unread_bodies.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request in progress (see [`Session::begin`]).
pub(crate) struct InProgress(Arc<Session>);

impl InProgress {
    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.0
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket as hyper sees it: the bytes ahead first, then the socket, closed while
/// the session is at the gate (the driver watches the socket then, and wakes the task);
/// every write watched, so that a connection is never parked with an answer still in
/// hyper's buffer.
struct Watched {
    ahead: Bytes,
    stream: Arc<TcpStream>,
    session: Arc<Session>,
}

impl Watched {
    fn watch_write(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        self.session
            .write_blocked
            .store(polled.is_pending(), Ordering::Release);
        polled
    }

    /// One write attempt after another until one is not refused for want of room.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        write: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Err(e) = ready!(self.stream.poll_write_ready(cx)) {
                return Poll::Ready(Err(e));
            }
            match write(&self.stream) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }
}

/// Read at most this much per read: the part of hyper's buffer a read must zero first
/// (the socket is shared, so reads go through `try_read` on initialised memory), kept
/// within the page a request head lands in anyway.
const READ_AT_MOST: usize = 2048;

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.ahead.is_empty() {
            let n = self.ahead.len().min(buf.remaining());
            buf.put_slice(&self.ahead[..n]);
            self.ahead.advance(n);
            return Poll::Ready(Ok(()));
        }
        if self.session.at_gate() {
            // The driver polls the socket's readiness in this same task.
            return Poll::Pending;
        }
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            let room = buf.remaining().min(READ_AT_MOST);
            match self.stream.try_read(buf.initialize_unfilled_to(room)) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = self.poll_write_with(cx, |stream| stream.try_write(buf));
        self.watch_write(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = self.poll_write_with(cx, |stream| stream.try_write_vectored(bufs));
        self.watch_write(polled)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Sessions run without hyper's shutdown (`poll_without_shutdown`); the socket
        // closes when the connection's task drops it.
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_read_from_a_whole_request_line_only() {
        assert_eq!(
            request_path(b"POST /api/coupons/x/issue HTTP/1.1\r\n"),
            Some("/api/coupons/x/issue")
        );
        assert_eq!(
            request_path(b"\r\nGET /health?x=1 HTTP/1.1"),
            Some("/health")
        );
        assert_eq!(request_path(b"GET /heal"), None, "cut short");
        assert_eq!(
            request_path(b"GET http://h/health HTTP/1.1"),
            None,
            "absolute form"
        );
        assert_eq!(request_path(b""), None);
    }

    #[tokio::test]
    async fn a_parked_connection_holds_a_small_task() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let shared = Arc::new(Shared::new(Router::new(), None, http1::Builder::new()));
        let (_stop, stop_seen) = watch::channel(false);
        // The task's size for the connection's life: hyper's session, the peek buffer
        // and the wait for a turn are boxed while they last (576 bytes in a debug
        // build when written, 768 with none of them boxed).
        let task = drive(stream, peer, shared, stop_seen);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 1024, "a parked connection's task is {size} bytes");
    }

    #[test]
    fn bytes_ahead_are_joined_in_order() {
        let joined = join(
            Bytes::from_static(b"GET /a"),
            Bytes::from_static(b" HTTP/1.1"),
        );
        assert_eq!(&joined[..], b"GET /a HTTP/1.1");
        assert_eq!(&join(Bytes::new(), Bytes::from_static(b"x"))[..], b"x");
        assert_eq!(&join(Bytes::from_static(b"y"), Bytes::new())[..], b"y");
    }
}
