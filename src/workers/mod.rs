//! Background work: each periodic job is a named [`Worker`] whose [`Worker::tick`] does one
//! step (tests call it directly, one step at a time), run by [`Workers`] every
//! [`Worker::interval`] until the server stops. At shutdown the workers are told to stop and
//! each finishes the step it is in — a purge or a flush is never cut in half — within a
//! bounded wait; one that overruns is abandoned and named in the log.

mod jobs;
pub mod key_changes;

pub use jobs::{
    EnvelopeKeyReload, KeyRefresh, LastUsedFlush, MessagePurge, NoncePurge, RefusalFlush,
};

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A periodic job.
#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    /// For logs: what this job is.
    fn name(&self) -> &'static str;
    /// Time between the starts of two steps (the first step runs at once).
    fn interval(&self) -> Duration;
    /// One step. Errors are the worker's to log: the next step tries again.
    async fn tick(&self);
}

/// The running workers, and the signal that stops them.
pub struct Workers {
    stop: watch::Sender<bool>,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Workers {
    fn default() -> Self {
        Self::new()
    }
}

impl Workers {
    /// No workers yet.
    pub fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            running: Vec::new(),
        }
    }

    /// Start `worker`: a step now, then one every interval, until [`Workers::stop`].
    pub fn spawn(&mut self, worker: Arc<dyn Worker>) {
        let stop = self.stop.subscribe();
        let name = worker.name();
        self.running.push((
            name,
            tokio::spawn(async move { run_until_stopped(&*worker, stop).await }),
        ));
    }

    /// Keep a task that waits on something other than a clock (a signal): it holds no work
    /// in progress between events, so stopping it is aborting it.
    pub fn adopt(&mut self, name: &'static str, task: JoinHandle<()>) {
        let mut stop = self.stop.subscribe();
        self.running.push((
            name,
            tokio::spawn(async move {
                let abort = task.abort_handle();
                tokio::select! {
                    _ = task => {}
                    _ = stop.changed() => abort.abort(),
                }
            }),
        ));
    }

    /// Tell every worker to stop, and wait up to `grace` in all for the steps in progress.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        for (name, task) in self.running {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(worker = name, "did not finish its step in time; abandoned");
                abort.abort();
            }
        }
    }
}

/// Run `worker` until `stop` says so. A stop that arrives during a step waits for the step.
pub async fn run_until_stopped(worker: &dyn Worker, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(worker.interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            // `true` is the only value ever sent; a dropped sender means stop too.
            _ = stop.changed() => return,
            _ = ticker.tick() => worker.tick().await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts steps started and finished; each step takes `step` to do.
    struct Counting {
        started: AtomicUsize,
        finished: AtomicUsize,
        step: Duration,
    }

    #[async_trait::async_trait]
    impl Worker for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn interval(&self) -> Duration {
            Duration::from_millis(10)
        }
        async fn tick(&self) {
            self.started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.step).await;
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting(step: Duration) -> Arc<Counting> {
        Arc::new(Counting {
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            step,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_steps_every_interval_and_stops_between_steps() {
        let worker = counting(Duration::ZERO);
        let mut workers = Workers::new();
        workers.spawn(worker.clone());
        tokio::time::sleep(Duration::from_millis(35)).await;
        // At 0, 10, 20 and 30 ms.
        assert_eq!(worker.finished.load(Ordering::SeqCst), 4);
        workers.stop(Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(worker.started.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_waits_for_the_step_in_progress() {
        let worker = counting(Duration::from_millis(500));
        let mut workers = Workers::new();
        workers.spawn(worker.clone());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(worker.started.load(Ordering::SeqCst), 1);
        workers.stop(Duration::from_secs(5)).await;
        // The step was finished, not cut; no new one began.
        assert_eq!(worker.finished.load(Ordering::SeqCst), 1);
        assert_eq!(worker.started.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_that_overruns_the_grace_is_abandoned() {
        let worker = counting(Duration::from_secs(60));
        let mut workers = Workers::new();
        workers.spawn(worker.clone());
        tokio::time::sleep(Duration::from_millis(1)).await;
        let started = tokio::time::Instant::now();
        workers.stop(Duration::from_secs(2)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(worker.finished.load(Ordering::SeqCst), 0);
    }
}
