//! A local stand-in for Sentry that records what arrives: it accepts the envelope
//! endpoint (`POST /api/<project>/envelope/`) and keeps every event item, so tests see
//! exactly what a real tracker would receive.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct ErrorTrackerRecorder {
    events: Arc<Mutex<Vec<Value>>>,
    port: u16,
}

impl ErrorTrackerRecorder {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the recorder");
        let port = listener.local_addr().expect("local addr").port();
        let recorder = Self {
            events: Arc::default(),
            port,
        };
        let app = Router::new()
            .route("/api/{project}/envelope/", post(envelope))
            .with_state(recorder.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        recorder
    }

    /// The DSN that points a client at this recorder.
    pub fn dsn(&self) -> String {
        format!("http://publickey@127.0.0.1:{}/42", self.port)
    }

    pub fn events(&self) -> Vec<Value> {
        self.events.lock().expect("recorder lock").clone()
    }

    /// The first event `matches` accepts, waiting up to `within` for it.
    pub async fn wait_for(
        &self,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| matches(e)) {
                return Some(e);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An envelope is newline-separated JSON: its header, then per item a header (`type`)
/// and a payload. The payloads of `event` items are kept; a missing `level` is the
/// protocol's default, `error`, written out here so tests can compare it.
async fn envelope(State(recorder): State<ErrorTrackerRecorder>, body: Bytes) -> &'static str {
    let text = String::from_utf8_lossy(&body);
    let mut events = recorder.events.lock().expect("recorder lock");
    let mut lines = text.lines().skip(1);
    while let Some(header) = lines.next() {
        let Ok(header) = serde_json::from_str::<Value>(header) else {
            continue;
        };
        let Some(payload) = lines.next() else { break };
        if header["type"] == "event"
            && let Ok(mut event) = serde_json::from_str::<Value>(payload)
        {
            if event.get("level").is_none() {
                event["level"] = Value::from("error");
            }
            events.push(event);
        }
    }
    "{}"
}
