//! Retry timing: exponential backoff with jitter, and `Retry-After`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exponential backoff: each delay doubles up to `max`, and the delay used
/// is drawn uniformly from its upper half (so attempts from many processes
/// spread out, and no delay collapses to zero).
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { next: initial, max }
    }

    /// The next delay, jittered; `floor` (from a server's `Retry-After`)
    /// replaces it when longer, and the backoff continues from there.
    pub(crate) fn delay(&mut self, floor: Option<Duration>) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        match floor {
            Some(f) if f >= base => {
                self.next = (f * 2).min(self.max.max(f));
                f
            }
            _ => base / 2 + base.mul_f64(random_unit() / 2.0),
        }
    }
}

/// A number in [0, 1), from the SDK's per-thread generator; jitter needs
/// spread, not secrecy.
fn random_unit() -> f64 {
    (clew_sdk::id::random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses a `Retry-After` value: delta-seconds, or an HTTP-date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, the IMF-fixdate form) giving the delay
/// from `now`. A date in the past is no delay; anything else is `None`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn parse_http_date(s: &str) -> Option<SystemTime> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + sec;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // 08:49:30
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in [
            "",
            "-1",
            "soon",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_floors() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let bounds = [100, 200, 400, 800, 1000, 1000];
        for ms in bounds {
            let d = b.delay(None);
            let base = Duration::from_millis(ms);
            assert!(
                d >= base / 2 && d <= base,
                "{d:?} not in [{:?}, {base:?}]",
                base / 2
            );
        }
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(
            b.delay(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        // The backoff continues from the server's delay, jittered.
        let after = b.delay(None);
        assert!(
            after >= Duration::from_millis(1500) && after <= Duration::from_secs(3),
            "{after:?}"
        );
    }
}
