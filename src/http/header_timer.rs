//! The timer behind hyper's header-read timeout, one per connection, armed once for many
//! requests.
//!
//! The timeout is what stops a slow-loris client: request headers must arrive within
//! `limits.header_read_timeout`, on a new connection and again between kept-alive requests.
//! hyper asks its timer for a fresh sleep each time it starts reading a request's head and
//! drops that sleep when the head is in. With `hyper_util`'s `TokioTimer`, every request
//! therefore put an entry into tokio's timer wheel and took it out again. Each of those
//! takes the wheel's lock, and side by side (README, Performance) that came to about 0.6 µs
//! of CPU per request, a twelfth of `/healthz`.
//!
//! This timer gives each connection one tokio sleep, shared by every sleep hyper asks for.
//! That sleep is armed at some deadline no later than the one a request is waiting for. When
//! it fires before that request's own deadline, it is re-armed at that deadline. So the wheel
//! is touched about once per timeout period on a busy connection, not once per request. A
//! request whose head does not arrive still times out at its own deadline, as before: the
//! armed sleep is never later than the deadline being waited for.

use hyper::rt::{Sleep, Timer};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The timer of one connection (`http1::Builder::timer`, set per connection).
#[derive(Clone, Default)]
pub struct ConnectionTimer {
    armed: Arc<Mutex<Option<Armed>>>,
}

/// The one tokio sleep of a connection and the deadline it is set for.
struct Armed {
    at: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl ConnectionTimer {
    /// A timer for a new connection; it arms nothing until a sleep is first polled.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Now on tokio's clock (the same as `Instant::now()` outside tests with paused time), so
/// that deadlines and the sleep agree.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(now() + duration)
    }

    fn now(&self) -> Instant {
        now()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(HeaderSleep {
            deadline,
            armed: Arc::clone(&self.armed),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HeaderSleep>() {
            Some(mut ours) => ours.deadline = new_deadline,
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// One sleep as hyper sees it: done at its deadline.
struct HeaderSleep {
    deadline: Instant,
    armed: Arc<Mutex<Option<Armed>>>,
}

impl Future for HeaderSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        if now() >= deadline {
            return Poll::Ready(());
        }
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let armed = armed.get_or_insert_with(|| Armed {
            at: deadline,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        });
        if armed.at > deadline {
            // Later than this deadline (a shorter timeout): bring it forward.
            armed.at = deadline;
            armed.sleep.as_mut().reset(deadline.into());
        }
        // Polling an armed sleep only records the waker; the wheel is not touched.
        while armed.sleep.as_mut().poll(cx).is_ready() {
            if armed.at >= deadline {
                return Poll::Ready(());
            }
            // Fired for an earlier request's deadline: wait on to this one's.
            armed.at = deadline;
            armed.sleep.as_mut().reset(deadline.into());
        }
        Poll::Pending
    }
}

impl Sleep for HeaderSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    fn pending(sleep: &mut Pin<Box<dyn Sleep>>) -> bool {
        let waker = std::task::Waker::noop();
        sleep
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending()
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_at_its_own_deadline_though_the_timer_was_armed_for_another() {
        let timer = ConnectionTimer::new();
        let start = now();
        // A first request arms the connection's sleep for start + 10 s, then its head comes.
        let mut first = timer.sleep_until(start + Duration::from_secs(10));
        assert!(pending(&mut first));
        drop(first);
        // The next request waits from start + 4 s: its deadline is start + 14 s.
        tokio::time::advance(Duration::from_secs(4)).await;
        let mut second = timer.sleep_until(now() + Duration::from_secs(10));
        assert!(pending(&mut second));
        // The armed sleep fires at start + 10 s; the second request still waits.
        tokio::time::advance(Duration::from_secs(7)).await;
        assert!(pending(&mut second));
        // And ends at its deadline.
        tokio::time::advance(Duration::from_secs(3)).await;
        poll_fn(|cx| second.as_mut().poll(cx)).await;
        assert!(now() >= start + Duration::from_secs(14));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_deadline_brings_the_armed_sleep_forward_and_reset_moves_it() {
        let timer = ConnectionTimer::new();
        let start = now();
        let mut long = timer.sleep_until(start + Duration::from_secs(30));
        assert!(pending(&mut long));
        drop(long);
        let mut short = timer.sleep_until(start + Duration::from_secs(2));
        assert!(pending(&mut short));
        tokio::time::advance(Duration::from_secs(2)).await;
        poll_fn(|cx| short.as_mut().poll(cx)).await;
        // hyper's reset moves a sleep's deadline without a new one.
        timer.reset(&mut short, now() + Duration::from_secs(5));
        assert!(pending(&mut short));
        tokio::time::advance(Duration::from_secs(5)).await;
        poll_fn(|cx| short.as_mut().poll(cx)).await;
        assert!(now() >= start + Duration::from_secs(7));
    }
}
