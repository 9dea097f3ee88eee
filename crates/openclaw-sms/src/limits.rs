//! Webhook rate limiters: fixed windows keyed by string, and an in-flight cap per route.
//!
//! As upstream: fixed one-minute windows, in memory, per process (a window resets 60 s after
//! it opened; the request over the count is limited). Time is an argument so tests are exact.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::sync::Mutex;

/// The window length.
pub const WINDOW: Duration = Duration::from_secs(60);
/// At most this many keys are tracked per limiter; past it, expired windows are dropped, and
/// if none has expired the oldest window is evicted.
pub const MAX_TRACKED_KEYS: usize = 5_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    count: u32,
}

/// A fixed-window counter per key.
#[derive(Debug)]
pub struct FixedWindowLimiter {
    max: u32,
    windows: Mutex<HashMap<String, Window>>,
}

impl FixedWindowLimiter {
    /// A limiter allowing `max` hits per key per [`WINDOW`].
    pub fn new(max: u32) -> Self {
        Self {
            max,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one hit for `key` at `now`; returns `true` when the key is over its budget.
    pub fn hit(&self, key: &str, now: Instant) -> bool {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !windows.contains_key(key) && windows.len() >= MAX_TRACKED_KEYS {
            windows.retain(|_, w| now.duration_since(w.opened) < WINDOW);
            if windows.len() >= MAX_TRACKED_KEYS
                && let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, w)| w.opened)
                    .map(|(k, _)| k.clone())
            {
                windows.remove(&oldest);
            }
        }
        let window = windows.entry(key.to_owned()).or_insert(Window {
            opened: now,
            count: 0,
        });
        if now.duration_since(window.opened) >= WINDOW {
            *window = Window {
                opened: now,
                count: 0,
            };
        }
        window.count = window.count.saturating_add(1);
        window.count > self.max
    }

    /// Whether `key` is over budget at `now`, without counting a hit.
    pub fn is_over(&self, key: &str, now: Instant) -> bool {
        let windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        windows
            .get(key)
            .is_some_and(|w| now.duration_since(w.opened) < WINDOW && w.count > self.max)
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// A cap on requests in flight; a permit is released when dropped.
#[derive(Debug, Clone)]
pub struct InFlightLimiter {
    max: usize,
    current: Arc<AtomicUsize>,
}

/// Held while a request is in flight.
#[derive(Debug)]
pub struct InFlightPermit {
    current: Arc<AtomicUsize>,
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        self.current.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlightLimiter {
    /// A limiter allowing `max` requests in flight.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Takes a permit, or `None` when `max` are already in flight.
    pub fn try_acquire(&self) -> Option<InFlightPermit> {
        self.current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlightPermit {
                current: Arc::clone(&self.current),
            })
    }

    /// How many are in flight now.
    pub fn in_flight(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_31st_hit_in_a_window_is_limited_and_the_window_resets() {
        let limiter = FixedWindowLimiter::new(30);
        let t0 = Instant::now();
        for i in 1..=30 {
            assert!(!limiter.hit("a", t0 + Duration::from_millis(i)), "hit {i}");
        }
        assert!(limiter.hit("a", t0 + Duration::from_secs(59)));
        assert!(limiter.is_over("a", t0 + Duration::from_secs(59)));
        // Another key has its own budget.
        assert!(!limiter.hit("b", t0 + Duration::from_secs(59)));
        // 60,001 ms after the window opened: a fresh window.
        assert!(!limiter.hit("a", t0 + Duration::from_millis(60_001)));
        assert!(!limiter.is_over("a", t0 + Duration::from_millis(60_001)));
    }

    #[test]
    fn tracked_keys_are_bounded() {
        let limiter = FixedWindowLimiter::new(1);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED_KEYS + 10) {
            limiter.hit(&format!("k{i}"), t0 + Duration::from_micros(i as u64));
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED_KEYS);
    }

    #[test]
    fn in_flight_cap_at_its_edge() {
        let limiter = InFlightLimiter::new(64);
        let permits: Vec<_> = (0..64)
            .map(|_| limiter.try_acquire().expect("within cap"))
            .collect();
        assert!(limiter.try_acquire().is_none(), "the 65th is refused");
        drop(permits);
        assert_eq!(limiter.in_flight(), 0);
        assert!(limiter.try_acquire().is_some());
    }
}
