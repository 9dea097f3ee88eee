//! Webhook rate limiters: fixed windows keyed by string, and an in-flight cap per client.
//!
//! As upstream: fixed one-minute windows, in memory, per process (a window resets 60 s after
//! it opened; the request over the count is limited). Time is an argument so tests are exact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Where a key stands after [`FixedWindowLimiter::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// This was the key's first hit in its window (the one worth logging).
    pub first: bool,
    /// The key is over its budget.
    pub over: bool,
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
        self.record(key, now).over
    }

    /// Counts one hit for `key` at `now` and says where the key stands in its window.
    pub fn record(&self, key: &str, now: Instant) -> Hit {
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
        Hit {
            first: window.count == 1,
            over: window.count > self.max,
        }
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

/// A cap on requests in flight per key (a client address); a permit is released when dropped.
///
/// Keyed so that one client cannot take every slot: a client that opens many connections and
/// stalls them holds only its own `max` slots, and every other client keeps its own. Keys are
/// tracked only while they have a request in flight, so the map holds at most as many keys as
/// the server holds requests.
#[derive(Debug, Clone)]
pub struct InFlightLimiter {
    max: usize,
    current: Arc<Mutex<HashMap<String, usize>>>,
}

/// Held while a request is in flight.
#[derive(Debug)]
pub struct InFlightPermit {
    key: String,
    current: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        let mut current = lock(&self.current);
        if let Some(n) = current.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                current.remove(&self.key);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl InFlightLimiter {
    /// A limiter allowing `max` requests in flight per key.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            current: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes a permit for `key`, or `None` when `key` already has `max` in flight.
    pub fn try_acquire(&self, key: &str) -> Option<InFlightPermit> {
        let mut current = lock(&self.current);
        let n = current.entry(key.to_owned()).or_insert(0);
        if *n >= self.max {
            if *n == 0 {
                current.remove(key);
            }
            return None;
        }
        *n += 1;
        Some(InFlightPermit {
            key: key.to_owned(),
            current: Arc::clone(&self.current),
        })
    }

    /// How many are in flight now, all keys together.
    pub fn in_flight(&self) -> usize {
        lock(&self.current).values().sum()
    }

    /// How many keys have a request in flight now.
    pub fn tracked(&self) -> usize {
        lock(&self.current).len()
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
    fn a_hit_says_whether_it_is_the_first_of_its_window() {
        let limiter = FixedWindowLimiter::new(1);
        let t0 = Instant::now();
        let hit = |now| {
            let h = limiter.record("k", now);
            (h.first, h.over)
        };
        assert_eq!(hit(t0), (true, false));
        assert_eq!(hit(t0), (false, true));
        assert_eq!(hit(t0 + WINDOW), (true, false), "a new window");
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
            .map(|_| limiter.try_acquire("a").expect("within cap"))
            .collect();
        assert!(limiter.try_acquire("a").is_none(), "the 65th is refused");
        // Another client has its own slots.
        let other = limiter.try_acquire("b").expect("another key");
        assert_eq!(limiter.in_flight(), 65);
        drop(permits);
        drop(other);
        assert_eq!(limiter.in_flight(), 0);
        assert_eq!(limiter.tracked(), 0, "idle keys are forgotten");
        assert!(limiter.try_acquire("a").is_some());
        let none = InFlightLimiter::new(0);
        assert!(none.try_acquire("a").is_none());
        assert_eq!(none.tracked(), 0);
    }
}
