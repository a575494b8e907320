//! Environment variables as a carrier, for child processes (the
//! specification's `TRACEPARENT`, `TRACESTATE` and `BAGGAGE` variables).

use std::process::Command;

use super::{Extractor, Injector};
use crate::Context;

/// Turns a propagation key into an environment-variable name: upper case,
/// with every character other than ASCII letters, digits and `_` replaced by `_`.
fn env_name(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                b.to_ascii_uppercase() as char
            } else {
                '_'
            }
        })
        .collect()
}

/// A set of environment variables used as a propagation carrier.
///
/// Injecting normalises keys (`traceparent` becomes `TRACEPARENT`);
/// extracting looks the normalised key up, so propagators need not know.
#[derive(Debug, Clone, Default)]
pub struct EnvCarrier {
    vars: Vec<(String, String)>,
}

impl EnvCarrier {
    /// An empty carrier, to inject into.
    pub fn new() -> EnvCarrier {
        EnvCarrier::default()
    }

    /// A snapshot of this process's environment (variables whose name and
    /// value are valid UTF-8).
    pub fn from_env() -> EnvCarrier {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        EnvCarrier { vars }
    }

    /// The variables, as set.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets every variable on `command`.
    pub fn apply_to(&self, command: &mut Command) {
        command.envs(self.vars.iter().map(|(k, v)| (k, v)));
    }
}

impl Injector for EnvCarrier {
    fn set(&mut self, key: &str, value: String) {
        let name = env_name(key);
        self.vars.retain(|(k, _)| *k != name);
        self.vars.push((name, value));
    }
}

impl Extractor for EnvCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        let name = env_name(key);
        self.vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.vars.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Sets the child's environment variables.
impl Injector for Command {
    fn set(&mut self, key: &str, value: String) {
        self.env(env_name(key), value);
    }
}

/// Puts the current context into `command`'s environment with the global
/// propagator (`TRACEPARENT`, `TRACESTATE`, `BAGGAGE` by default), so the
/// child process continues the trace.
pub fn inject_into_command(command: &mut Command) {
    super::inject(command)
}

/// Reads the context the parent process passed in the environment, with the
/// global propagator. Call it once at start-up and attach the result.
pub fn extract_from_env() -> Context {
    super::extract_with_context(&Context::new(), &EnvCarrier::from_env())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(env_name("traceparent"), "TRACEPARENT");
        assert_eq!(env_name("x-b3-traceid"), "X_B3_TRACEID");
        assert_eq!(env_name("uber-trace-id"), "UBER_TRACE_ID");
        let mut c = EnvCarrier::new();
        c.set("traceparent", "a".into());
        c.set("TraceParent", "b".into());
        assert_eq!(c.vars().collect::<Vec<_>>(), [("TRACEPARENT", "b")]);
        assert_eq!(c.get("traceparent"), Some("b"));
    }
}
