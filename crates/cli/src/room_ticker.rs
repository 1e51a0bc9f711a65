//! The waiting room's clock, in every process that serves the API: every `room_tick_ms`
//! it lets the rooms admit what is due, switch and adjust their rate
//! (`WaitingRoom::tick`), and publishes each room's figures as metrics.

use couponrush_domain::services::{RoomReport, WaitingRoom};
use couponrush_telemetry::metrics::names::{
    ROOM_ABANDONED_TOTAL, ROOM_ADMISSION_RATE, ROOM_ADMITTED_PER_SECOND, ROOM_ADMITTED_TOTAL,
    ROOM_STATE, ROOM_TARGET_P95_SECONDS, ROOM_WAITING,
};
use tokio::task::JoinHandle;

/// Stops the ticking when dropped (with the process's serving).
pub struct RoomTicker(Vec<JoinHandle<()>>);

impl RoomTicker {
    /// Stops the ticking and waits until the task is gone, and with it its handles on
    /// the issue path: embedded mode's writer stops only once the last handle on its
    /// log is dropped.
    pub async fn stop(mut self) {
        for task in std::mem::take(&mut self.0) {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for RoomTicker {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

pub fn spawn(room: WaitingRoom) -> RoomTicker {
    let mut tasks = Vec::with_capacity(2);
    if room.settings().auto.on_consumer_lag > 0 {
        tasks.push(tokio::spawn(read_consumer_lag(room.clone())));
    }
    tasks.push(tick(room));
    RoomTicker(tasks)
}

/// Once a window, the consumers' lag for the AUTO switch, on a task of its own: the
/// broker's answers (four round trips) must never hold up the admissions' tick. A
/// read that takes longer than a window gives no signal.
async fn read_consumer_lag(room: WaitingRoom) {
    let window = room.settings().window;
    let mut every = tokio::time::interval(window);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if tokio::time::timeout(window, room.refresh_consumer_lag())
            .await
            .is_err()
        {
            room.consumer_lag_unknown();
        }
    }
}

fn tick(room: WaitingRoom) -> JoinHandle<()> {
    let every = room.settings().tick;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        // A slow round (a store that hesitates) is not made up for with a burst.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for report in room.tick().await {
                publish(&report);
            }
        }
    })
}

fn publish(r: &RoomReport) {
    let coupon = r.coupon.to_string();
    metrics::gauge!(ROOM_WAITING, "coupon" => coupon.clone()).set(r.waiting as f64);
    metrics::gauge!(ROOM_STATE, "coupon" => coupon.clone()).set(f64::from(r.switch.code()));
    metrics::gauge!(ROOM_ADMISSION_RATE, "coupon" => coupon.clone()).set(r.rate);
    metrics::gauge!(ROOM_TARGET_P95_SECONDS, "coupon" => coupon.clone())
        .set(r.target_p95.as_secs_f64());
    metrics::gauge!(ROOM_ADMITTED_PER_SECOND, "coupon" => coupon.clone()).set(r.admitted_per_sec);
    // Totals of the shared line (every node's admissions), so every node reports the
    // same value: take one node's, or the max, never the sum.
    metrics::gauge!(ROOM_ADMITTED_TOTAL, "coupon" => coupon.clone()).set(r.admitted_total as f64);
    metrics::gauge!(ROOM_ABANDONED_TOTAL, "coupon" => coupon).set(r.abandoned_total as f64);
}
