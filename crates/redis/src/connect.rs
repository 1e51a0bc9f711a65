//! The one connection an adapter uses: to a single server, a `ConnectionManager` (one
//! multiplexed connection that pipelines concurrent callers automatically and
//! reconnects in the background; FIELD-NOTES measured 170–190k script calls/s through
//! one on this kind of box, a pool would only add sockets); to a Redis Cluster, the
//! driver's cluster connection, which routes each command to the master of its key's
//! slot. Every key of one script shares a hash tag (`keys.rs`), so each script runs on
//! one node either way.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::time::Duration;

/// How long a command may take before the caller gets an error. The driver's default
/// (500 ms) fails healthy calls on a loaded two-core box; past two seconds an issue
/// request is better answered 503 than kept waiting.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection to one Redis server or to a Redis Cluster. Cheap to clone: clones share
/// the underlying connections.
#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Opens a connection to `url`, failing if the server cannot be reached now. `url` is
/// `redis://host:port[/db]` for one server, or several node URLs separated by commas
/// (`redis://10.0.0.1:7000,redis://10.0.0.2:7000`) for a Redis Cluster.
pub async fn connection(url: &str) -> Result<RedisConnection, RedisError> {
    connection_with_timeout(url, RESPONSE_TIMEOUT).await
}

/// As [`connection`], with its own bound on one command (queueing behind other
/// pipelined commands included).
pub async fn connection_with_timeout(
    url: &str,
    response_timeout: Duration,
) -> Result<RedisConnection, RedisError> {
    if url.contains(',') {
        let nodes: Vec<&str> = url.split(',').map(str::trim).collect();
        let client = ClusterClient::builder(nodes)
            .response_timeout(response_timeout)
            .connection_timeout(CONNECTION_TIMEOUT)
            .build()?;
        return Ok(RedisConnection::Cluster(
            client.get_async_connection().await?,
        ));
    }
    let client = redis::Client::open(url)?;
    // While Redis is away, a command waits for the manager's reconnect attempts: with
    // the crate's default of 6 retries backing off from 100 ms, issue requests waited up
    // to 4.6 s for their 503 in the fault matrix's Redis restart. One quick retry, each
    // connect bounded like a command, keeps the answer near the response timeout; the
    // next command tries again anyway.
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT.min(response_timeout)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    Ok(RedisConnection::Single(
        client.get_connection_manager_with_config(config).await?,
    ))
}
