//! Configuration and wiring: which adapters stand behind the ports in each mode. The
//! `couponrush` binary (main.rs) is a thin shell over this library, and `testkit` starts
//! the same wiring in-process.

pub mod append_waiters;
pub mod clock;
pub mod config;
mod connection;
pub mod distributed;
pub mod embedded;
pub mod instrumented;
pub mod reconcile;
pub mod request_limit;
pub mod room_ticker;
pub mod secrets;
pub mod serve;
pub mod session_purge;
pub mod shutdown;
pub mod spawner;

pub use config::Config;
pub use distributed::{ApiNode, ConsumerNode};
pub use embedded::EmbeddedApp;
