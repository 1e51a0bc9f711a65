//! The HTTP client: one keep-alive HTTP/1.1 connection per worker, on hyper directly.
//!
//! Why hyper and not reqwest: the load generator shares two cores with the server it
//! measures, so every microsecond it spends is taken from the server. A worker that owns
//! one `http1::SendRequest` has no pool lock, no URL parsing and no per-request boxing,
//! and the number of connections is exactly `--connections` (reqwest opens extra ones
//! whenever its pool is momentarily empty). Requests are built once per job from
//! pre-parsed pieces (`Target`, a ready `HeaderValue` per user).

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// Where the server is: resolved once.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    host: HeaderValue,
    base: String,
}

impl Target {
    pub async fn resolve(url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url.trim_end_matches('/').parse()?;
        anyhow::ensure!(uri.scheme_str() == Some("http"), "only http:// targets");
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("{url}: no host"))?
            .clone();
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{url}: host does not resolve"))?;
        Ok(Self {
            addr,
            host: HeaderValue::from_str(authority.as_str())?,
            base: url.trim_end_matches('/').to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request for `path` with an optional `Authorization` value and JSON body.
    pub fn request(
        &self,
        method: Method,
        path: &Uri,
        auth: Option<&HeaderValue>,
        json: Option<Bytes>,
    ) -> Request<Full<Bytes>> {
        let has_body = json.is_some();
        let mut req = Request::new(Full::new(json.unwrap_or_default()));
        *req.method_mut() = method;
        *req.uri_mut() = path.clone();
        let headers = req.headers_mut();
        headers.insert(HOST, self.host.clone());
        if let Some(a) = auth {
            headers.insert(AUTHORIZATION, a.clone());
        }
        if has_body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        req
    }
}

/// Why a request got no HTTP answer, or got an error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// No answer within `--timeout`.
    Timeout,
    /// The TCP connection could not be opened.
    Connect,
    /// An answer with this non-2xx status.
    Http(u16),
    /// The connection broke mid-request, or the answer was not understood.
    Other,
}

impl ErrorKind {
    pub fn label(self) -> String {
        match self {
            Self::Timeout => "timeout".into(),
            Self::Connect => "connect".into(),
            Self::Http(code) => format!("http_{code}"),
            Self::Other => "other".into(),
        }
    }
}

/// A failed exchange: the kind, and a message for the first ones the summary shows.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    fn new(kind: ErrorKind, message: impl ToString) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }
}

/// One keep-alive connection, reopened after any failure. Not shared: one per worker.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(target: &Target) -> Self {
        Self {
            addr: target.addr,
            sender: None,
        }
    }

    /// Opens the connection now (before the clock starts), if it is not open.
    pub async fn connect(&mut self, timeout: Duration) -> Result<(), Failure> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        self.sender = None;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| Failure::new(ErrorKind::Connect, "connect timed out"))?
            .map_err(|e| Failure::new(ErrorKind::Connect, e))?;
        // Small requests and answers: do not let Nagle hold them back.
        stream
            .set_nodelay(true)
            .map_err(|e| Failure::new(ErrorKind::Connect, e))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::new(ErrorKind::Connect, e))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors surface on send.
            let _ = connection.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends `req` and reads the whole answer within `timeout` (connecting first if
    /// needed). Any status is returned; only transport failures are errors. After a
    /// failure the connection is dropped, since its state is unknown.
    pub async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), Failure> {
        self.connect(timeout).await?;
        // A connection the server closed while idle is noticed here, before anything is
        // sent, so reopening it cannot duplicate a request.
        if self
            .sender
            .as_mut()
            .expect("connected above")
            .ready()
            .await
            .is_err()
        {
            self.sender = None;
            self.connect(timeout).await?;
        }
        let sender = self.sender.as_mut().expect("connected above");
        let exchange = async {
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.sender = None;
                Err(Failure::new(ErrorKind::Other, e))
            }
            Err(_) => {
                self.sender = None;
                Err(Failure::new(
                    ErrorKind::Timeout,
                    "no answer within --timeout",
                ))
            }
        }
    }

    /// `send`, then non-2xx statuses as errors too: for the setup and check calls.
    pub async fn call(
        &mut self,
        req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Bytes, Failure> {
        let (status, body) = self.send(req, timeout).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(Failure::new(
                ErrorKind::Http(status.as_u16()),
                format!("{status}: {}", String::from_utf8_lossy(&body)),
            ))
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)
    }
}

impl std::error::Error for Failure {}
