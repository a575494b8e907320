//! Resource: the attributes that describe the entity producing telemetry
//! (service, host, process, SDK), and the detectors that find them.

use std::borrow::Cow;
use std::fmt;

use clew_api::semconv;
use clew_api::{Key, KeyValue, Value};

use crate::diagnostics::{self, Diagnostic};
use crate::env::Env;

/// An immutable set of attributes with unique keys, and a schema URL.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    attributes: Vec<KeyValue>,
    schema_url: Option<Cow<'static, str>>,
}

impl Resource {
    /// The empty resource.
    pub fn empty() -> Resource {
        Resource::default()
    }

    /// A resource from attributes; a later duplicate key wins.
    pub fn new(attributes: impl IntoIterator<Item = KeyValue>) -> Resource {
        let mut r = Resource::empty();
        for kv in attributes {
            r.set(kv);
        }
        r
    }

    fn set(&mut self, kv: KeyValue) {
        match self.attributes.iter_mut().find(|a| a.key == kv.key) {
            Some(existing) => existing.value = kv.value,
            None => self.attributes.push(kv),
        }
    }

    /// This resource with a schema URL.
    pub fn with_schema_url(mut self, schema_url: impl Into<Cow<'static, str>>) -> Resource {
        self.schema_url = Some(schema_url.into());
        self
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }

    /// The attributes.
    pub fn iter(&self) -> impl Iterator<Item = &KeyValue> {
        self.attributes.iter()
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// True when there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// The schema URL.
    pub fn schema_url(&self) -> Option<&str> {
        self.schema_url.as_deref()
    }

    /// Merges `updating` into this resource: its values win on conflicts, and
    /// its schema URL wins when it has one.
    pub fn merge(&self, updating: &Resource) -> Resource {
        let mut merged = self.clone();
        for kv in &updating.attributes {
            merged.set(kv.clone());
        }
        if updating.schema_url.is_some() {
            merged.schema_url = updating.schema_url.clone();
        }
        merged
    }

    /// Starts building a resource from the default detectors and the
    /// environment. Code (this builder's attributes) beats the environment,
    /// which beats the detectors.
    pub fn builder() -> ResourceBuilder {
        ResourceBuilder {
            env: Env::process(),
            detectors: default_detectors(),
            attributes: Vec::new(),
            schema_url: None,
            default_service_name: None,
        }
    }

    /// Starts building a resource with no detector at all.
    pub fn builder_empty() -> ResourceBuilder {
        ResourceBuilder {
            env: Env::process(),
            detectors: Vec::new(),
            attributes: Vec::new(),
            schema_url: None,
            default_service_name: None,
        }
    }
}

/// Why a detector found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetectError {
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DetectError {}

/// Finds resource attributes. A failing detector is reported through the
/// diagnostics channel and contributes nothing; it is never fatal.
pub trait ResourceDetector: Send + Sync + fmt::Debug {
    /// A short name for diagnostics.
    fn name(&self) -> &'static str;
    /// The attributes found.
    fn detect(&self, env: &Env) -> Result<Resource, DetectError>;
}

/// Builds a [`Resource`].
#[derive(Debug)]
pub struct ResourceBuilder {
    env: Env,
    detectors: Vec<Box<dyn ResourceDetector>>,
    attributes: Vec<KeyValue>,
    schema_url: Option<Cow<'static, str>>,
    default_service_name: Option<Value>,
}

impl ResourceBuilder {
    /// Reads `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` from `env`
    /// instead of the process environment.
    pub fn with_env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Adds a detector, run after the others.
    pub fn with_detector(mut self, detector: impl ResourceDetector + 'static) -> Self {
        self.detectors.push(Box::new(detector));
        self
    }

    /// Sets `service.name`.
    pub fn with_service_name(self, name: impl Into<Value>) -> Self {
        self.with_attribute(KeyValue::new(semconv::SERVICE_NAME, name))
    }

    /// Sets `service.name` only if nothing else does (code, the
    /// environment, a detector): used instead of `unknown_service:<exe>`.
    pub fn with_default_service_name(mut self, name: impl Into<Value>) -> Self {
        self.default_service_name = Some(name.into());
        self
    }

    /// Adds an attribute.
    pub fn with_attribute(mut self, kv: KeyValue) -> Self {
        self.attributes.push(kv);
        self
    }

    /// Adds attributes.
    pub fn with_attributes(mut self, kvs: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(kvs);
        self
    }

    /// Sets the schema URL.
    pub fn with_schema_url(mut self, url: impl Into<Cow<'static, str>>) -> Self {
        self.schema_url = Some(url.into());
        self
    }

    /// Runs the detectors, merges the environment and the code attributes,
    /// and falls back to the default service name, if one was given, or
    /// `unknown_service:<executable>` for `service.name`.
    pub fn build(self) -> Resource {
        let mut resource = Resource::empty();
        for detector in &self.detectors {
            match detector.detect(&self.env) {
                Ok(found) => resource = resource.merge(&found),
                Err(e) => diagnostics::report(Diagnostic::DetectorFailed {
                    detector: detector.name(),
                    error: e.message,
                }),
            }
        }
        if let Ok(found) = EnvResourceDetector.detect(&self.env) {
            resource = resource.merge(&found);
        }
        resource = resource.merge(&Resource::new(self.attributes));
        if resource.get(semconv::SERVICE_NAME).is_none() {
            let fallback = self.default_service_name.unwrap_or_else(|| {
                executable_name()
                    .map(|exe| format!("unknown_service:{exe}"))
                    .unwrap_or_else(|| "unknown_service".to_owned())
                    .into()
            });
            resource.set(KeyValue::new(semconv::SERVICE_NAME, fallback));
        }
        if let Some(url) = self.schema_url {
            resource.schema_url = Some(url);
        }
        resource
    }
}

/// The detectors every provider runs unless told otherwise: SDK, host,
/// process and service instance.
pub fn default_detectors() -> Vec<Box<dyn ResourceDetector>> {
    vec![
        Box::new(SdkResourceDetector),
        Box::new(HostResourceDetector),
        Box::new(ProcessResourceDetector),
        Box::new(ServiceInstanceDetector),
    ]
}

fn executable_name() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.file_name()?.to_string_lossy().into_owned())
}

/// Decodes `%XX` escapes; `None` on a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by `,`,
/// percent-encoded. Any malformed pair rejects the whole value.
pub fn parse_resource_attributes(value: &str) -> Result<Vec<KeyValue>, DetectError> {
    let mut out = Vec::new();
    for pair in value.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let err = |why: &str| DetectError {
            message: format!(
                "OTEL_RESOURCE_ATTRIBUTES: {why} in {pair:?}; the whole variable is ignored"
            ),
        };
        let (k, v) = pair.split_once('=').ok_or_else(|| err("missing '='"))?;
        let key = percent_decode(k.trim()).ok_or_else(|| err("bad percent-encoding"))?;
        let value = percent_decode(v.trim()).ok_or_else(|| err("bad percent-encoding"))?;
        if key.is_empty() {
            return Err(err("empty key"));
        }
        out.push(KeyValue::new(Key::from(key), value));
    }
    Ok(out)
}

/// `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`, which wins.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvResourceDetector;

impl ResourceDetector for EnvResourceDetector {
    fn name(&self) -> &'static str {
        "env"
    }

    fn detect(&self, env: &Env) -> Result<Resource, DetectError> {
        let mut resource = Resource::empty();
        if let Some(value) = env.get("OTEL_RESOURCE_ATTRIBUTES") {
            match parse_resource_attributes(&value) {
                Ok(attrs) => resource = Resource::new(attrs),
                Err(e) => crate::env::invalid("OTEL_RESOURCE_ATTRIBUTES", &value, &e.message),
            }
        }
        if let Some(name) = env.get("OTEL_SERVICE_NAME") {
            resource.set(KeyValue::new(semconv::SERVICE_NAME, name));
        }
        Ok(resource)
    }
}

/// `telemetry.sdk.name` (`clew`), `.language` (`rust`) and `.version`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SdkResourceDetector;

impl ResourceDetector for SdkResourceDetector {
    fn name(&self) -> &'static str {
        "sdk"
    }

    fn detect(&self, _env: &Env) -> Result<Resource, DetectError> {
        Ok(Resource::new([
            KeyValue::new(semconv::TELEMETRY_SDK_NAME, "clew"),
            KeyValue::new(semconv::TELEMETRY_SDK_LANGUAGE, "rust"),
            KeyValue::new(semconv::TELEMETRY_SDK_VERSION, env!("CARGO_PKG_VERSION")),
        ]))
    }
}

/// `host.name`, `host.arch`, `os.type`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostResourceDetector;

fn host_name(env: &Env) -> Option<String> {
    for path in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(name) = std::fs::read_to_string(path) {
            let name = name.trim();
            if !name.is_empty() {
                return Some(name.to_owned());
            }
        }
    }
    env.get("HOSTNAME").or_else(|| env.get("COMPUTERNAME"))
}

impl ResourceDetector for HostResourceDetector {
    fn name(&self) -> &'static str {
        "host"
    }

    fn detect(&self, env: &Env) -> Result<Resource, DetectError> {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "x86",
            "arm" => "arm32",
            "powerpc" => "ppc32",
            "powerpc64" => "ppc64",
            "s390x" => "s390x",
            other => other,
        };
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        let mut attrs = vec![
            KeyValue::new(semconv::HOST_ARCH, arch),
            KeyValue::new(semconv::OS_TYPE, os),
        ];
        if let Some(name) = host_name(env) {
            attrs.insert(0, KeyValue::new(semconv::HOST_NAME, name));
        }
        Ok(Resource::new(attrs))
    }
}

/// `process.pid`, `process.executable.name`, `process.executable.path`,
/// `process.command`, `process.runtime.name` and `process.runtime.version`.
/// Command-line arguments are left out: they often hold secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessResourceDetector;

impl ResourceDetector for ProcessResourceDetector {
    fn name(&self) -> &'static str {
        "process"
    }

    fn detect(&self, _env: &Env) -> Result<Resource, DetectError> {
        let mut attrs = vec![KeyValue::new(
            semconv::PROCESS_PID,
            i64::from(std::process::id()),
        )];
        if let Ok(exe) = std::env::current_exe() {
            if let Some(name) = exe.file_name() {
                attrs.push(KeyValue::new(
                    semconv::PROCESS_EXECUTABLE_NAME,
                    name.to_string_lossy().into_owned(),
                ));
            }
            attrs.push(KeyValue::new(
                semconv::PROCESS_EXECUTABLE_PATH,
                exe.to_string_lossy().into_owned(),
            ));
        }
        if let Some(command) = std::env::args_os().next() {
            attrs.push(KeyValue::new(
                semconv::PROCESS_COMMAND,
                command.to_string_lossy().into_owned(),
            ));
        }
        attrs.push(KeyValue::new(semconv::PROCESS_RUNTIME_NAME, "rustc"));
        attrs.push(KeyValue::new(
            semconv::PROCESS_RUNTIME_VERSION,
            env!("CLEW_RUSTC_VERSION"),
        ));
        Ok(Resource::new(attrs))
    }
}

/// `service.instance.id`: a random UUID (version 4), new for each process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceInstanceDetector;

/// A random version-4 UUID in its text form.
pub(crate) fn uuid_v4() -> String {
    let hi = crate::id::random_u64();
    let lo = crate::id::random_u64();
    let hi = (hi & !0xf000) | 0x4000; // version 4
    let lo = (lo & !(0xc000 << 48)) | (0x8000 << 48); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

impl ResourceDetector for ServiceInstanceDetector {
    fn name(&self) -> &'static str {
        "service.instance"
    }

    fn detect(&self, _env: &Env) -> Result<Resource, DetectError> {
        Ok(Resource::new([KeyValue::new(
            semconv::SERVICE_INSTANCE_ID,
            uuid_v4(),
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_attributes_are_percent_decoded_and_service_name_wins() {
        let env = Env::from_pairs([
            ("OTEL_RESOURCE_ATTRIBUTES", "service.version=1.2.3, deployment.environment.name=prod,team=a%2Cb%3Dc,service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "order-service"),
        ]);
        let r = Resource::builder_empty().with_env(env).build();
        assert_eq!(r.get("service.version"), Some(&Value::from("1.2.3")));
        assert_eq!(
            r.get("deployment.environment.name"),
            Some(&Value::from("prod"))
        );
        assert_eq!(r.get("team"), Some(&Value::from("a,b=c")));
        assert_eq!(r.get("service.name"), Some(&Value::from("order-service")));
    }

    #[test]
    fn malformed_env_attributes_are_discarded_whole() {
        for bad in ["a=1,b", "a=%zz", "=v", "a=%FF"] {
            assert!(parse_resource_attributes(bad).is_err(), "{bad}");
            let env = Env::from_pairs([("OTEL_RESOURCE_ATTRIBUTES", bad)]);
            let r = Resource::builder_empty().with_env(env).build();
            assert_eq!(r.get("a"), None, "{bad}");
        }
    }

    #[test]
    fn code_beats_env_beats_detectors_and_service_name_falls_back() {
        let env = Env::from_pairs([("OTEL_RESOURCE_ATTRIBUTES", "host.arch=from-env,k=env")]);
        let r = Resource::builder()
            .with_env(env)
            .with_attribute(KeyValue::new("k", "code"))
            .build();
        assert_eq!(r.get("k"), Some(&Value::from("code")));
        assert_eq!(r.get("host.arch"), Some(&Value::from("from-env")));
        assert_eq!(r.get("telemetry.sdk.name"), Some(&Value::from("clew")));
        assert_eq!(r.get("telemetry.sdk.language"), Some(&Value::from("rust")));
        assert!(r.get("process.pid").is_some());
        assert!(r.get("service.instance.id").is_some());
        let name = r.get("service.name").and_then(Value::as_str).unwrap();
        assert!(name.starts_with("unknown_service:"), "{name}");
    }

    #[derive(Debug)]
    struct Broken;
    impl ResourceDetector for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn detect(&self, _: &Env) -> Result<Resource, DetectError> {
            Err(DetectError {
                message: "no metadata endpoint".into(),
            })
        }
    }

    #[test]
    fn the_default_service_name_yields_to_everything_else() {
        let name = |env: Env| {
            Resource::builder_empty()
                .with_env(env)
                .with_default_service_name("fallback")
                .build()
                .get("service.name")
                .map(ToString::to_string)
        };
        assert_eq!(
            name(Env::from_pairs([("X", "1")])).as_deref(),
            Some("fallback")
        );
        assert_eq!(
            name(Env::from_pairs([("OTEL_SERVICE_NAME", "svc")])).as_deref(),
            Some("svc")
        );
        assert_eq!(
            name(Env::from_pairs([(
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=unknown_service:mine"
            )]))
            .as_deref(),
            Some("unknown_service:mine"),
            "a name set on purpose is kept, whatever it looks like"
        );
    }

    #[test]
    fn a_failing_detector_is_not_fatal() {
        let r = Resource::builder_empty()
            .with_env(Env::from_pairs([("X", "1")]))
            .with_detector(Broken)
            .with_service_name("svc")
            .build();
        assert_eq!(r.get("service.name"), Some(&Value::from("svc")));
    }

    #[test]
    fn merge_and_uuid() {
        let a = Resource::new([KeyValue::new("a", 1), KeyValue::new("b", 1)]).with_schema_url("s1");
        let b = Resource::new([KeyValue::new("b", 2)]);
        let m = a.merge(&b);
        assert_eq!(m.get("b"), Some(&Value::I64(2)));
        assert_eq!(m.schema_url(), Some("s1"));
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(uuid_v4(), id);
    }
}
