//! Reading `OTEL_*` variables with the specification's parsing rules: an
//! empty value is unset; booleans are only `true` (case-insensitive);
//! unparseable numbers and unknown enum values produce a diagnostic naming
//! the variable and are treated as unset.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::diagnostics::{self, Diagnostic};

/// Where configuration comes from: the process environment, or a fixed map
/// (for tests, and for applications that read configuration elsewhere).
#[derive(Clone, Default)]
pub struct Env {
    fixed: Option<HashMap<String, String>>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fixed {
            None => f.write_str("Env(process)"),
            Some(map) => f.debug_tuple("Env").field(map).finish(),
        }
    }
}

impl Env {
    /// The process environment.
    pub fn process() -> Env {
        Env { fixed: None }
    }

    /// A fixed set of variables; the process environment is not read.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            fixed: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The raw value, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match &self.fixed {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }?;
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }

    /// A boolean: `true` (any case) is true; `false` or unset is false;
    /// anything else is false with a diagnostic.
    pub fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                invalid(name, &v, "expected true or false; using false");
                false
            }
        }
    }

    /// A non-negative integer.
    pub fn u64(&self, name: &str) -> Option<u64> {
        let v = self.get(name)?;
        match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                invalid(name, &v, "expected a non-negative integer; ignored");
                None
            }
        }
    }

    /// A count (`usize`); values too large saturate.
    pub fn usize(&self, name: &str) -> Option<usize> {
        self.u64(name)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// A duration in milliseconds.
    pub fn millis(&self, name: &str) -> Option<Duration> {
        self.u64(name).map(Duration::from_millis)
    }

    /// A timeout in milliseconds, where 0 means no limit (`Duration::MAX`).
    pub fn timeout(&self, name: &str) -> Option<Duration> {
        self.u64(name).map(|ms| {
            if ms == 0 {
                Duration::MAX
            } else {
                Duration::from_millis(ms)
            }
        })
    }

    /// A floating-point number.
    pub fn f64(&self, name: &str) -> Option<f64> {
        let v = self.get(name)?;
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                invalid(name, &v, "expected a number; ignored");
                None
            }
        }
    }

    /// A lower-cased enum value.
    pub fn lowercase(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.to_ascii_lowercase())
    }
}

/// Reports an invalid value of `variable` through the diagnostics channel,
/// with what is used instead. For crates that read variables of their own
/// (the OTLP exporter, the facade) with the same reporting.
pub fn invalid(variable: &str, value: &str, fallback: &str) {
    diagnostics::report(Diagnostic::InvalidConfiguration {
        variable: variable.to_owned(),
        value: value.to_owned(),
        fallback: fallback.to_owned(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_rules() {
        let env = Env::from_pairs([
            ("T", "TRUE"),
            ("F", "false"),
            ("BAD_BOOL", "yes"),
            ("EMPTY", "  "),
            ("N", "42"),
            ("BAD_N", "-1"),
            ("ZERO", "0"),
            ("R", "0.25"),
            ("BAD_R", "NaN"),
        ]);
        assert!(env.bool("T"));
        assert!(!env.bool("F"));
        assert!(!env.bool("BAD_BOOL"));
        assert!(!env.bool("UNSET"));
        assert_eq!(env.get("EMPTY"), None);
        assert_eq!(env.u64("N"), Some(42));
        assert_eq!(env.u64("BAD_N"), None);
        assert_eq!(env.millis("N"), Some(Duration::from_millis(42)));
        assert_eq!(env.timeout("ZERO"), Some(Duration::MAX));
        assert_eq!(env.f64("R"), Some(0.25));
        assert_eq!(env.f64("BAD_R"), None);
    }
}
