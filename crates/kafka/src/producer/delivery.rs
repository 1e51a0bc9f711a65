//! Delivery reports with librdkafka's persistence status.
//!
//! A failed delivery is not always a lost record: a record that timed out while in
//! flight may have been written by the broker. librdkafka knows which
//! (`rd_kafka_message_status`); the `rdkafka` crate does not wrap that call, so this
//! module makes it, once, on the message of the delivery callback.

use rdkafka::ClientContext;
use rdkafka::bindings::{rd_kafka_message_status, rd_kafka_msg_status_t};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, DeliveryResult};
use rdkafka::producer::ProducerContext;
use tokio::sync::oneshot;

/// How one record ended.
#[derive(Debug)]
pub enum Delivery {
    /// Acknowledged by the broker (`acks=all`).
    Persisted,
    /// Failed, and librdkafka is sure the broker never wrote it.
    NotPersisted(KafkaError),
    /// Failed, but the broker may have written it (typically a timeout in flight).
    PossiblyPersisted(KafkaError),
}

/// Where a delivery report goes: the caller awaiting that record.
pub type Waiter = Box<oneshot::Sender<Delivery>>;

/// The producer context: hands each delivery report to its waiter.
pub struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Waiter;

    fn delivery(&self, result: &DeliveryResult<'_>, waiter: Waiter) {
        let delivery = match result {
            Ok(_) => Delivery::Persisted,
            Err((error, message)) => {
                if possibly_persisted(message) {
                    Delivery::PossiblyPersisted(error.clone())
                } else {
                    Delivery::NotPersisted(error.clone())
                }
            }
        };
        // A waiter that gave up has already answered its caller; nothing to tell.
        let _ = waiter.send(delivery);
    }
}

/// Whether librdkafka considers the failed `message` possibly (or actually) persisted.
#[allow(unsafe_code)]
fn possibly_persisted(message: &BorrowedMessage<'_>) -> bool {
    // SAFETY: `ptr()` is the librdkafka message this delivery report is about; it stays
    // valid for the whole callback, which is where `message` is borrowed from, and
    // `rd_kafka_message_status` only reads it.
    let status = unsafe { rd_kafka_message_status(message.ptr()) };
    !matches!(
        status,
        rd_kafka_msg_status_t::RD_KAFKA_MSG_STATUS_NOT_PERSISTED
    )
}
