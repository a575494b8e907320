//! Samplers: which spans are recorded and which are exported.

use std::fmt;
use std::sync::Arc;

use clew_api::trace::{Link, SpanKind, TraceId, TraceState};
use clew_api::{Context, KeyValue};

use crate::env::{invalid, Env};

/// What a sampler decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplingDecision {
    /// Not recorded, not exported; the span still carries the trace.
    Drop,
    /// Recorded (processors see it) but not exported.
    RecordOnly,
    /// Recorded and exported; the sampled flag is set.
    RecordAndSample,
}

/// A sampler's answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SamplingResult {
    /// The decision.
    pub decision: SamplingDecision,
    /// Attributes added to the span.
    pub attributes: Vec<KeyValue>,
    /// The new span's trace state; `None` keeps the parent's.
    pub trace_state: Option<TraceState>,
}

impl SamplingResult {
    /// A decision with no attributes and the parent's trace state.
    pub fn new(decision: SamplingDecision) -> SamplingResult {
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: None,
        }
    }

    /// Adds attributes to the span (e.g. `sampling.reason`).
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Sets the new span's trace state.
    pub fn with_trace_state(mut self, trace_state: TraceState) -> Self {
        self.trace_state = Some(trace_state);
        self
    }
}

/// What a sampler is shown about the span being started.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SamplingParameters<'a> {
    /// The parent context (its span may be remote, or absent).
    pub parent: &'a Context,
    /// The new span's trace id.
    pub trace_id: TraceId,
    /// The span's name.
    pub name: &'a str,
    /// The span's kind.
    pub kind: SpanKind,
    /// Attributes given at start.
    pub attributes: &'a [KeyValue],
    /// Links given at start.
    pub links: &'a [Link],
}

/// Decides whether a span is recorded and sampled. Implement it for custom
/// policies; see the crate docs for a priority-customer sampler.
pub trait Sampler: Send + Sync + fmt::Debug {
    /// The decision for a new span.
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult;

    /// A description, e.g. `TraceIdRatioBased{0.25}`.
    fn description(&self) -> String;

    /// Set only by clew's own always-on, always-off and default parent-based
    /// samplers (a [`Shortcut`] cannot be made outside this crate): the
    /// provider then decides without calling the sampler. A wrapper should
    /// forward it only when it forwards `should_sample` unchanged.
    #[doc(hidden)]
    fn shortcut(&self) -> Option<Shortcut> {
        None
    }
}

/// The decision of one of clew's own samplers as data; see
/// [`Sampler::shortcut`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortcut(Rule);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Always(bool),
    /// The parent's sampled flag when there is a parent, else the value.
    ParentOr(bool),
}

impl Shortcut {
    /// Whether the new span is recorded and sampled (otherwise dropped).
    #[inline]
    pub(crate) fn sampled(self, parent: &clew_api::trace::SpanContext) -> bool {
        match self.0 {
            Rule::Always(on) => on,
            Rule::ParentOr(root) => {
                if parent.is_valid() {
                    parent.is_sampled()
                } else {
                    root
                }
            }
        }
    }
}

impl<S: Sampler + ?Sized> Sampler for Arc<S> {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        (**self).should_sample(params)
    }
    fn description(&self) -> String {
        (**self).description()
    }
    fn shortcut(&self) -> Option<Shortcut> {
        (**self).shortcut()
    }
}

impl<S: Sampler + ?Sized> Sampler for Box<S> {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        (**self).should_sample(params)
    }
    fn description(&self) -> String {
        (**self).description()
    }
    fn shortcut(&self) -> Option<Shortcut> {
        (**self).shortcut()
    }
}

/// Samples everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOn;

impl Sampler for AlwaysOn {
    fn should_sample(&self, _: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult::new(SamplingDecision::RecordAndSample)
    }
    fn description(&self) -> String {
        "AlwaysOnSampler".into()
    }
    fn shortcut(&self) -> Option<Shortcut> {
        Some(Shortcut(Rule::Always(true)))
    }
}

/// Samples nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOff;

impl Sampler for AlwaysOff {
    fn should_sample(&self, _: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult::new(SamplingDecision::Drop)
    }
    fn description(&self) -> String {
        "AlwaysOffSampler".into()
    }
    fn shortcut(&self) -> Option<Shortcut> {
        Some(Shortcut(Rule::Always(false)))
    }
}

/// Samples a fixed fraction of traces, deterministically from the trace id,
/// so every service with the same ratio makes the same decision. A higher
/// ratio samples a superset of a lower one. (Deprecated by the specification
/// in favour of [`ProbabilitySampler`]; kept for `traceidratio`.)
#[derive(Debug, Clone, Copy)]
pub struct TraceIdRatioBased {
    ratio: f64,
    bound: u64,
}

impl TraceIdRatioBased {
    /// A sampler for `ratio` in `[0, 1]` (clamped).
    pub fn new(ratio: f64) -> TraceIdRatioBased {
        let ratio = unit_interval(ratio);
        // Compare the trace id's low 63 bits against ratio × 2^63.
        let bound = (ratio * (1u64 << 63) as f64) as u64;
        TraceIdRatioBased { ratio, bound }
    }
}

impl Sampler for TraceIdRatioBased {
    fn should_sample(&self, p: &SamplingParameters<'_>) -> SamplingResult {
        let low = (p.trace_id.to_int() as u64) >> 1;
        let sampled = self.ratio >= 1.0 || low < self.bound;
        SamplingResult::new(if sampled {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        })
    }
    fn description(&self) -> String {
        format!("TraceIdRatioBased{{{}}}", self.ratio)
    }
}

/// The specification's probability sampler with consistent thresholds: a
/// span is sampled when its 56-bit randomness (the trace state's `ot=rv:`
/// value, or the trace id's right-most 7 bytes) is at least the threshold
/// `(1 - p) × 2^56`; sampled spans carry `ot=th:<threshold>` in their trace
/// state so that downstream samplers and collectors can count them.
#[derive(Debug, Clone, Copy)]
pub struct ProbabilitySampler {
    probability: f64,
    threshold: u64,
}

const MAX_RANDOMNESS: u64 = 1 << 56;

impl ProbabilitySampler {
    /// A sampler for `probability` in `[0, 1]` (clamped).
    pub fn new(probability: f64) -> ProbabilitySampler {
        let probability = unit_interval(probability);
        let threshold = ((1.0 - probability) * MAX_RANDOMNESS as f64).round() as u64;
        ProbabilitySampler {
            probability,
            threshold: threshold.min(MAX_RANDOMNESS),
        }
    }

    /// The threshold as the `th` sub-key encodes it: 14 hex digits with
    /// trailing zeros removed (`0` for "sample everything").
    pub fn threshold_hex(&self) -> String {
        encode_threshold(self.threshold)
    }
}

fn encode_threshold(threshold: u64) -> String {
    if threshold == 0 {
        return "0".into();
    }
    let hex = format!("{threshold:014x}");
    hex.trim_end_matches('0').to_owned()
}

/// `x` clamped to `[0, 1]`; NaN is 0.
fn unit_interval(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// The OpenTelemetry trace-state member (`ot=...`) as sub-keys.
fn ot_subkeys(ts: &TraceState) -> Vec<(String, String)> {
    ts.get("ot")
        .map(|v| {
            v.split(';')
                .filter_map(|kv| kv.split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The trace's randomness: the `rv` sub-key of `ot` when valid, else the
/// trace id's low 56 bits.
fn randomness(trace_id: TraceId, subkeys: &[(String, String)]) -> u64 {
    subkeys
        .iter()
        .find(|(k, _)| k == "rv")
        .and_then(|(_, v)| {
            (v.len() == 14)
                .then(|| u64::from_str_radix(v, 16).ok())
                .flatten()
        })
        .unwrap_or((trace_id.to_int() as u64) & (MAX_RANDOMNESS - 1))
}

impl Sampler for ProbabilitySampler {
    fn should_sample(&self, p: &SamplingParameters<'_>) -> SamplingResult {
        let parent_ts = p.parent.span_context().trace_state();
        let mut subkeys = ot_subkeys(parent_ts);
        let sampled =
            self.threshold < MAX_RANDOMNESS && randomness(p.trace_id, &subkeys) >= self.threshold;
        subkeys.retain(|(k, _)| k != "th");
        if sampled {
            subkeys.insert(0, ("th".into(), encode_threshold(self.threshold)));
        }
        let value = subkeys
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(";");
        let trace_state = if value.is_empty() {
            parent_ts.remove("ot")
        } else {
            parent_ts
                .insert("ot", &value)
                .unwrap_or_else(|_| parent_ts.clone())
        };
        SamplingResult::new(if sampled {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        })
        .with_trace_state(trace_state)
    }
    fn description(&self) -> String {
        format!("ProbabilitySampler{{{}}}", self.probability)
    }
}

/// Follows the parent's decision when there is a parent, and the root
/// sampler otherwise. Each of the four parent cases has its own delegate.
#[derive(Debug, Clone)]
pub struct ParentBased {
    root: Arc<dyn Sampler>,
    remote_sampled: Arc<dyn Sampler>,
    remote_not_sampled: Arc<dyn Sampler>,
    local_sampled: Arc<dyn Sampler>,
    local_not_sampled: Arc<dyn Sampler>,
}

impl ParentBased {
    /// Parent-based with `root` for new traces and the specification's
    /// defaults for the parent cases (sampled parents: always on; unsampled:
    /// always off).
    pub fn new(root: impl Sampler + 'static) -> ParentBased {
        ParentBased {
            root: Arc::new(root),
            remote_sampled: Arc::new(AlwaysOn),
            remote_not_sampled: Arc::new(AlwaysOff),
            local_sampled: Arc::new(AlwaysOn),
            local_not_sampled: Arc::new(AlwaysOff),
        }
    }

    /// The delegate for a sampled remote parent.
    pub fn with_remote_parent_sampled(mut self, s: impl Sampler + 'static) -> Self {
        self.remote_sampled = Arc::new(s);
        self
    }

    /// The delegate for an unsampled remote parent.
    pub fn with_remote_parent_not_sampled(mut self, s: impl Sampler + 'static) -> Self {
        self.remote_not_sampled = Arc::new(s);
        self
    }

    /// The delegate for a sampled local parent.
    pub fn with_local_parent_sampled(mut self, s: impl Sampler + 'static) -> Self {
        self.local_sampled = Arc::new(s);
        self
    }

    /// The delegate for an unsampled local parent.
    pub fn with_local_parent_not_sampled(mut self, s: impl Sampler + 'static) -> Self {
        self.local_not_sampled = Arc::new(s);
        self
    }
}

impl Sampler for ParentBased {
    fn should_sample(&self, p: &SamplingParameters<'_>) -> SamplingResult {
        let parent = p.parent.span_context();
        let delegate = if !parent.is_valid() {
            &self.root
        } else {
            match (parent.is_remote(), parent.is_sampled()) {
                (true, true) => &self.remote_sampled,
                (true, false) => &self.remote_not_sampled,
                (false, true) => &self.local_sampled,
                (false, false) => &self.local_not_sampled,
            }
        };
        delegate.should_sample(p)
    }
    fn shortcut(&self) -> Option<Shortcut> {
        let always =
            |s: &Arc<dyn Sampler>, on: bool| s.shortcut() == Some(Shortcut(Rule::Always(on)));
        let defaults = always(&self.remote_sampled, true)
            && always(&self.local_sampled, true)
            && always(&self.remote_not_sampled, false)
            && always(&self.local_not_sampled, false);
        match self.root.shortcut()? {
            Shortcut(Rule::Always(root)) if defaults => Some(Shortcut(Rule::ParentOr(root))),
            _ => None,
        }
    }
    fn description(&self) -> String {
        format!(
            "ParentBased{{root:{},remoteParentSampled:{},remoteParentNotSampled:{},localParentSampled:{},localParentNotSampled:{}}}",
            self.root.description(),
            self.remote_sampled.description(),
            self.remote_not_sampled.description(),
            self.local_sampled.description(),
            self.local_not_sampled.description()
        )
    }
}

/// The sampler named by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`:
/// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on` (the
/// default), `parentbased_always_off`, `parentbased_traceidratio`, and clew's
/// `probability` / `parentbased_probability`. Values that need something
/// clew does not ship (`jaeger_remote`, `parentbased_jaeger_remote`, `xray`)
/// and unknown values warn and fall back to the default; an invalid
/// argument warns and uses 1.0.
pub fn sampler_from_env(env: &Env) -> Arc<dyn Sampler> {
    let ratio = || -> f64 {
        match env.get("OTEL_TRACES_SAMPLER_ARG") {
            None => 1.0,
            Some(arg) => match arg.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => {
                    invalid(
                        "OTEL_TRACES_SAMPLER_ARG",
                        &arg,
                        "expected a ratio in [0, 1]; using 1.0",
                    );
                    1.0
                }
            },
        }
    };
    let default = || -> Arc<dyn Sampler> { Arc::new(ParentBased::new(AlwaysOn)) };
    let Some(name) = env.lowercase("OTEL_TRACES_SAMPLER") else {
        return default();
    };
    match name.as_str() {
        "always_on" => Arc::new(AlwaysOn),
        "always_off" => Arc::new(AlwaysOff),
        "traceidratio" => Arc::new(TraceIdRatioBased::new(ratio())),
        "parentbased_always_on" => default(),
        "parentbased_always_off" => Arc::new(ParentBased::new(AlwaysOff)),
        "parentbased_traceidratio" => Arc::new(ParentBased::new(TraceIdRatioBased::new(ratio()))),
        "probability" => Arc::new(ProbabilitySampler::new(ratio())),
        "parentbased_probability" => Arc::new(ParentBased::new(ProbabilitySampler::new(ratio()))),
        "jaeger_remote" | "parentbased_jaeger_remote" | "xray" => {
            invalid(
                "OTEL_TRACES_SAMPLER",
                &name,
                "not supported by clew; using parentbased_always_on",
            );
            default()
        }
        _ => {
            invalid(
                "OTEL_TRACES_SAMPLER",
                &name,
                "unknown sampler; using parentbased_always_on",
            );
            default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clew_api::trace::{SpanContext, SpanId, TraceFlags};

    fn params<'a>(parent: &'a Context, trace_id: u128) -> SamplingParameters<'a> {
        SamplingParameters {
            parent,
            trace_id: TraceId::from_int(trace_id),
            name: "x",
            kind: SpanKind::Internal,
            attributes: &[],
            links: &[],
        }
    }

    fn parent(remote: bool, sampled: bool) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_int(1),
            SpanId::from_int(1),
            TraceFlags::NONE.with_sampled(sampled),
            remote,
            TraceState::NONE,
        ))
    }

    /// The provider decides by `shortcut()` instead of calling
    /// `should_sample`: for every sampler that offers one, both must agree
    /// in every parent case, and the sampler must add nothing.
    #[test]
    fn shortcuts_decide_exactly_as_the_samplers_do() {
        let with_shortcut: Vec<(Arc<dyn Sampler>, Shortcut)> = vec![
            (Arc::new(AlwaysOn), Shortcut(Rule::Always(true))),
            (Arc::new(AlwaysOff), Shortcut(Rule::Always(false))),
            (
                Arc::new(ParentBased::new(AlwaysOn)),
                Shortcut(Rule::ParentOr(true)),
            ),
            (
                Arc::new(ParentBased::new(AlwaysOff)),
                Shortcut(Rule::ParentOr(false)),
            ),
            (
                sampler_from_env(&Env::from_pairs([("X", "1")])),
                Shortcut(Rule::ParentOr(true)),
            ),
            (Arc::new(Box::new(AlwaysOff)), Shortcut(Rule::Always(false))),
            (
                Arc::new(ParentBased::new(AlwaysOn).with_local_parent_sampled(AlwaysOn)),
                Shortcut(Rule::ParentOr(true)),
            ),
        ];
        let parents = [
            Context::new(),
            parent(true, true),
            parent(true, false),
            parent(false, true),
            parent(false, false),
        ];
        for (sampler, expected) in &with_shortcut {
            assert_eq!(
                sampler.shortcut(),
                Some(*expected),
                "{}",
                sampler.description()
            );
            for cx in &parents {
                let result = sampler.should_sample(&params(cx, 7));
                assert_eq!(
                    expected.sampled(cx.span_context()),
                    result.decision == SamplingDecision::RecordAndSample,
                    "{} with parent {:?}",
                    sampler.description(),
                    cx.span_context()
                );
                assert_ne!(result.decision, SamplingDecision::RecordOnly);
                assert!(result.attributes.is_empty() && result.trace_state.is_none());
            }
        }
        // Anything else is asked every time.
        let without: Vec<Arc<dyn Sampler>> = vec![
            Arc::new(TraceIdRatioBased::new(1.0)),
            Arc::new(ProbabilitySampler::new(1.0)),
            Arc::new(ParentBased::new(TraceIdRatioBased::new(1.0))),
            Arc::new(ParentBased::new(AlwaysOn).with_local_parent_not_sampled(AlwaysOn)),
            Arc::new(ParentBased::new(AlwaysOn).with_remote_parent_sampled(AlwaysOff)),
            Arc::new(ParentBased::new(ParentBased::new(AlwaysOn))),
        ];
        for sampler in &without {
            assert_eq!(sampler.shortcut(), None, "{}", sampler.description());
        }
    }

    #[test]
    fn ratio_is_deterministic_and_monotonic() {
        let root = Context::new();
        let quarter = TraceIdRatioBased::new(0.25);
        let half = TraceIdRatioBased::new(0.5);
        let mut sampled_quarter = 0;
        for i in 0..10_000u128 {
            let id = i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            let q = quarter.should_sample(&params(&root, id)).decision
                == SamplingDecision::RecordAndSample;
            let h = half.should_sample(&params(&root, id)).decision
                == SamplingDecision::RecordAndSample;
            assert!(!q || h, "a higher ratio samples a superset");
            sampled_quarter += usize::from(q);
        }
        assert!(
            (2_200..2_800).contains(&sampled_quarter),
            "{sampled_quarter}"
        );
        assert_eq!(
            TraceIdRatioBased::new(1.0)
                .should_sample(&params(&root, u128::MAX))
                .decision,
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            TraceIdRatioBased::new(0.0)
                .should_sample(&params(&root, 0))
                .decision,
            SamplingDecision::Drop
        );
        assert_eq!(quarter.description(), "TraceIdRatioBased{0.25}");
    }

    #[test]
    fn parent_based_uses_the_five_delegates() {
        let s = ParentBased::new(AlwaysOff)
            .with_remote_parent_sampled(AlwaysOff)
            .with_remote_parent_not_sampled(AlwaysOn)
            .with_local_parent_sampled(AlwaysOff)
            .with_local_parent_not_sampled(AlwaysOn);
        let d = |cx: &Context| s.should_sample(&params(cx, 7)).decision;
        assert_eq!(d(&Context::new()), SamplingDecision::Drop);
        assert_eq!(d(&parent(true, true)), SamplingDecision::Drop);
        assert_eq!(d(&parent(true, false)), SamplingDecision::RecordAndSample);
        assert_eq!(d(&parent(false, true)), SamplingDecision::Drop);
        assert_eq!(d(&parent(false, false)), SamplingDecision::RecordAndSample);
        let default = ParentBased::new(AlwaysOn);
        assert_eq!(
            default
                .should_sample(&params(&parent(true, false), 7))
                .decision,
            SamplingDecision::Drop
        );
        assert!(default
            .description()
            .starts_with("ParentBased{root:AlwaysOnSampler"));
    }

    #[test]
    fn probability_sampler_writes_consistent_thresholds() {
        let root = Context::new();
        let s = ProbabilitySampler::new(0.25);
        assert_eq!(s.threshold_hex(), "c");
        assert_eq!(ProbabilitySampler::new(1.0).threshold_hex(), "0");
        assert_eq!(ProbabilitySampler::new(0.5).threshold_hex(), "8");
        // Randomness from the trace id's low 56 bits.
        let r = s.should_sample(&params(&root, 0x00ff_ffff_ffff_ffff));
        assert_eq!(r.decision, SamplingDecision::RecordAndSample);
        assert_eq!(r.trace_state.unwrap().get("ot"), Some("th:c"));
        let r = s.should_sample(&params(&root, 0x0010_0000_0000_0000));
        assert_eq!(r.decision, SamplingDecision::Drop);
        // Explicit randomness in the parent's trace state wins and is kept.
        let ts = TraceState::from_header("ot=rv:ffffffffffffff,vendor=x").unwrap();
        let cx = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_int(1),
            SpanId::from_int(1),
            TraceFlags::SAMPLED,
            true,
            ts,
        ));
        let r = s.should_sample(&params(&cx, 0));
        assert_eq!(r.decision, SamplingDecision::RecordAndSample);
        let ts = r.trace_state.unwrap();
        assert_eq!(ts.get("ot"), Some("th:c;rv:ffffffffffffff"));
        assert_eq!(ts.get("vendor"), Some("x"));
        assert_eq!(
            ProbabilitySampler::new(0.0)
                .should_sample(&params(&root, u128::MAX))
                .decision,
            SamplingDecision::Drop
        );
    }

    #[test]
    fn env_selection_and_fallbacks() {
        let d = |pairs: &[(&str, &str)]| {
            sampler_from_env(&Env::from_pairs(pairs.iter().copied())).description()
        };
        assert!(d(&[]).starts_with("ParentBased{root:AlwaysOnSampler"));
        assert_eq!(
            d(&[("OTEL_TRACES_SAMPLER", "always_off")]),
            "AlwaysOffSampler"
        );
        assert_eq!(
            d(&[("OTEL_TRACES_SAMPLER", "ALWAYS_ON")]),
            "AlwaysOnSampler"
        );
        assert_eq!(
            d(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.05")
            ]),
            "TraceIdRatioBased{0.05}"
        );
        assert!(d(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1")
        ])
        .starts_with("ParentBased{root:TraceIdRatioBased{0.1}"));
        assert!(d(&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")])
            .starts_with("ParentBased{root:AlwaysOffSampler"));
        assert_eq!(
            d(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2")
            ]),
            "TraceIdRatioBased{1}"
        );
        assert_eq!(
            d(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "lots")
            ]),
            "TraceIdRatioBased{1}"
        );
        assert!(
            d(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]).starts_with("ParentBased{root:AlwaysOn")
        );
        assert!(d(&[("OTEL_TRACES_SAMPLER", "bogus")]).starts_with("ParentBased{root:AlwaysOn"));
        assert_eq!(
            d(&[
                ("OTEL_TRACES_SAMPLER", "probability"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.5")
            ]),
            "ProbabilitySampler{0.5}"
        );
    }
}
