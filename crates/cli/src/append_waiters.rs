//! A request whose durable append is under way gives its turn back.
//!
//! A turn bounds the requests the router works on at once (`request_limit`). An issue
//! request holds it from the gate step to its answer, and in embedded mode most of that
//! time is the wait for the group commit: no CPU, a parked future. Turns ÷ that wait
//! bounds the rate: with 256 turns the writer gets at most 256 rows a commit, so when
//! the disk's fsync slows to tens of milliseconds (another process writing, measured
//! with one beside a sustained run) the process serves fewer issues a second than
//! arrive, and the queue for turns grows by the second. So the append trades its turn
//! for one of at most `max_appends_waiting` places among the requests waiting for the
//! durable write, when one is free (when none is, it keeps its turn, as before): the
//! next request's gate step runs meanwhile, and a commit's batch grows with the disk's
//! latency instead of the queue.
//!
//! The request's turn travels with it as a task-local, into the task its issue step is
//! spawned on ([`carry`], used by `TokioSpawner`), so the append finds it. The turn is
//! given back when the request ends, as before, even if its issue step runs on.

use crate::request_limit::Turn;
use async_trait::async_trait;
use couponrush_domain::IssueRequest;
use couponrush_domain::ports::{IssueLog, LogError};
use futures::future::Either;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Semaphore;

tokio::task_local! {
    static HELD: HeldTurn;
}

/// The turn of the request running in this task, until it is given back.
#[derive(Clone)]
struct HeldTurn(Arc<Mutex<Option<Turn>>>);

impl HeldTurn {
    fn take(&self) -> Option<Turn> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Gives the turn back when the request ends (or its future is dropped).
struct GiveBack(HeldTurn);

impl Drop for GiveBack {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

/// Runs a request's `work` holding `turn` (none: a request that needs no turn) to its
/// end; with `lend`, as the task's turn, which its durable append may give back. Without
/// places to lend into (an api node) nothing is set up for it.
pub async fn holding<F: Future>(turn: Option<Turn>, lend: bool, work: F) -> F::Output {
    let Some(turn) = turn else {
        return work.await;
    };
    if !lend {
        let _held = turn;
        return work.await;
    }
    let held = HeldTurn(Arc::new(Mutex::new(Some(turn))));
    let _give_back = GiveBack(held.clone());
    HELD.scope(held, work).await
}

/// `work`, to be spawned, carrying the spawning request's turn (no box of its own: it
/// wraps every issue step).
pub fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
    match HELD.try_with(Clone::clone) {
        Ok(held) => Either::Left(HELD.scope(held, work)),
        Err(_) => Either::Right(work),
    }
}

/// The places of requests waiting for their durable append without a turn.
#[derive(Clone, Debug)]
pub struct AppendWaiters {
    places: Arc<Semaphore>,
}

impl AppendWaiters {
    /// At most `max` requests wait without their turn; `None` for 0 (they keep it).
    pub fn new(max: usize) -> Option<Self> {
        (max > 0).then(|| Self {
            places: Arc::new(Semaphore::new(max)),
        })
    }

    /// Runs `append`, the current request's turn given back for a free place if the
    /// request holds one and a place is free.
    pub async fn without_turn<F: Future>(&self, append: F) -> F::Output {
        // A place first, then the turn: with no turn to give (the request has ended,
        // or it never held one) the place goes back at once.
        let place = HELD.try_with(Clone::clone).ok().and_then(|held| {
            let place = self.places.clone().try_acquire_owned().ok()?;
            held.take().map(|turn| {
                drop(turn);
                place
            })
        });
        let result = append.await;
        drop(place);
        result
    }
}

/// `inner`, its appends waiting without their request's turn while a place is free;
/// `inner` itself when there are no places.
pub fn log(inner: Arc<dyn IssueLog>, waiters: Option<AppendWaiters>) -> Arc<dyn IssueLog> {
    match waiters {
        Some(waiters) => Arc::new(TurnFreeLog { inner, waiters }),
        None => inner,
    }
}

struct TurnFreeLog {
    inner: Arc<dyn IssueLog>,
    waiters: AppendWaiters,
}

#[async_trait]
impl IssueLog for TurnFreeLog {
    async fn append(&self, request: IssueRequest) -> Result<(), LogError> {
        self.waiters.without_turn(self.inner.append(request)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_limit::RequestLimit;
    use futures::FutureExt;
    use std::time::Duration;
    use tokio::sync::oneshot;

    fn one_turn() -> RequestLimit {
        RequestLimit::new(1, Duration::from_secs(1))
    }

    /// A request holding the only turn, its append waiting for `commit` on a spawned
    /// task (as the issue step does); returns once the append has started.
    async fn request_waiting_for_commit(
        limit: &RequestLimit,
        waiters: Option<AppendWaiters>,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let turn = limit.try_turn().expect("a free turn");
        let (commit, committed) = oneshot::channel::<()>();
        let (started, appending) = oneshot::channel::<()>();
        let request = tokio::spawn(holding(Some(turn), true, async move {
            let step = carry(
                async move {
                    let append = async move {
                        let _ = started.send(());
                        let _ = committed.await;
                    };
                    match waiters {
                        Some(waiters) => waiters.without_turn(append).await,
                        None => append.await,
                    }
                }
                .boxed(),
            );
            tokio::spawn(step).await.expect("the issue step");
        }));
        appending.await.expect("the append started");
        (commit, request)
    }

    #[tokio::test]
    async fn a_request_waiting_for_its_commit_frees_its_turn_for_the_next() {
        let limit = one_turn();
        let (commit, request) = request_waiting_for_commit(&limit, AppendWaiters::new(1)).await;
        assert!(
            limit.try_turn().is_some(),
            "the next request gets the turn while the first waits for its commit"
        );
        commit.send(()).unwrap();
        request.await.unwrap();
    }

    #[tokio::test]
    async fn without_a_free_place_the_request_keeps_its_turn() {
        let limit = RequestLimit::new(2, Duration::from_secs(1));
        let waiters = AppendWaiters::new(1);
        let (first_commit, first) = request_waiting_for_commit(&limit, waiters.clone()).await;
        let (second_commit, second) = request_waiting_for_commit(&limit, waiters).await;
        // The first gave its turn back for the only place, the second kept its own.
        let third = limit.try_turn().expect("the first request's turn");
        assert!(
            limit.try_turn().is_none(),
            "the second request keeps its turn"
        );
        drop(third);
        first_commit.send(()).unwrap();
        second_commit.send(()).unwrap();
        first.await.unwrap();
        second.await.unwrap();
    }

    #[tokio::test]
    async fn with_no_places_a_request_holds_its_turn_to_the_end() {
        let limit = one_turn();
        let (commit, request) = request_waiting_for_commit(&limit, AppendWaiters::new(0)).await;
        assert!(limit.try_turn().is_none());
        commit.send(()).unwrap();
        request.await.unwrap();
        assert!(
            limit.try_turn().is_some(),
            "the turn is back once the request ended"
        );
    }

    #[tokio::test]
    async fn a_turn_not_lent_is_held_though_a_place_is_free() {
        let limit = one_turn();
        let turn = limit.try_turn().unwrap();
        let waiters = AppendWaiters::new(1).unwrap();
        let (commit, committed) = oneshot::channel::<()>();
        let (started, appending) = oneshot::channel::<()>();
        let request = tokio::spawn(holding(Some(turn), false, async move {
            waiters
                .without_turn(async move {
                    let _ = started.send(());
                    let _ = committed.await;
                })
                .await;
        }));
        appending.await.unwrap();
        assert!(
            limit.try_turn().is_none(),
            "the turn stays with the request"
        );
        commit.send(()).unwrap();
        request.await.unwrap();
        assert!(limit.try_turn().is_some());
    }

    #[tokio::test]
    async fn a_request_that_ends_gives_its_turn_back_though_its_step_runs_on() {
        let limit = one_turn();
        let turn = limit.try_turn().unwrap();
        let (commit, committed) = oneshot::channel::<()>();
        let step = holding(Some(turn), true, async move {
            // The step outlives the request (its client went away).
            tokio::spawn(carry(
                async move {
                    let _ = committed.await;
                }
                .boxed(),
            ));
        });
        step.await;
        assert!(limit.try_turn().is_some());
        commit.send(()).unwrap();
    }
}
