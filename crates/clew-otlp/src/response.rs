//! Reading what a receiver answers: the partial success of an
//! `ExportTraceServiceResponse`, and the message of a `google.rpc.Status`
//! error body, in protobuf or JSON.

/// `ExportTracePartialSuccess`: spans the receiver rejected, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartialSuccess {
    /// Spans rejected (`rejected_spans`).
    pub rejected_spans: i64,
    /// The receiver's explanation (`error_message`).
    pub error_message: String,
}

/// Protobuf fields of one message: (field number, wire value).
pub(crate) enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of a protobuf message, or `None` if it is malformed.
pub(crate) fn fields(mut buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        let field = match tag & 7 {
            0 => Field::Varint(varint(&mut buf)?),
            1 | 5 => {
                let n = if tag & 7 == 1 { 8 } else { 4 };
                buf = buf.get(n..)?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let bytes = buf.get(..len)?;
                buf = &buf[len..];
                Field::Bytes(bytes)
            }
            _ => return None,
        };
        out.push((tag >> 3, field));
    }
    Some(out)
}

/// The partial success in a protobuf `ExportTraceServiceResponse`:
/// `Ok(None)` for full success, `Err` for a body that is not one.
pub(crate) fn partial_success_protobuf(body: &[u8]) -> Result<Option<PartialSuccess>, ()> {
    let mut result = None;
    for (number, field) in fields(body).ok_or(())? {
        if let (1, Field::Bytes(inner)) = (number, field) {
            let mut p = PartialSuccess::default();
            for (n, f) in fields(inner).ok_or(())? {
                match (n, f) {
                    (1, Field::Varint(v)) => p.rejected_spans = v as i64,
                    (2, Field::Bytes(b)) => {
                        p.error_message = String::from_utf8_lossy(b).into_owned()
                    }
                    _ => {}
                }
            }
            result = Some(p);
        }
    }
    Ok(result.filter(|p| p.rejected_spans != 0 || !p.error_message.is_empty()))
}

/// The `message` of a protobuf `google.rpc.Status`, if it has one.
pub(crate) fn status_message_protobuf(body: &[u8]) -> Option<String> {
    fields(body)?.into_iter().find_map(|(n, f)| match (n, f) {
        (2, Field::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    })
}

/// A JSON value, as much as the responses need.
#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool,
    Number(f64),
    String(String),
    Array,
    Object(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let [b' ' | b'\t' | b'\n' | b'\r', rest @ ..] = self.s {
            self.s = rest;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        let (&first, rest) = self.s.split_first()?;
        (first == b).then(|| self.s = rest)
    }

    fn value(&mut self) -> Option<Json> {
        self.depth += 1;
        if self.depth > 64 {
            return None;
        }
        self.ws();
        let v = match *self.s.first()? {
            b'{' => {
                self.s = &self.s[1..];
                let mut members = Vec::new();
                if self.eat(b'}').is_none() {
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.eat(b':')?;
                        members.push((key, self.value()?));
                        if self.eat(b',').is_none() {
                            self.eat(b'}')?;
                            break;
                        }
                    }
                }
                Json::Object(members)
            }
            b'[' => {
                self.s = &self.s[1..];
                if self.eat(b']').is_none() {
                    loop {
                        self.value()?;
                        if self.eat(b',').is_none() {
                            self.eat(b']')?;
                            break;
                        }
                    }
                }
                Json::Array
            }
            b'"' => Json::String(self.string()?),
            b't' => self.word("true", Json::Bool)?,
            b'f' => self.word("false", Json::Bool)?,
            b'n' => self.word("null", Json::Null)?,
            _ => {
                let end = self
                    .s
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .unwrap_or(self.s.len());
                let n = std::str::from_utf8(&self.s[..end]).ok()?.parse().ok()?;
                self.s = &self.s[end..];
                Json::Number(n)
            }
        };
        self.depth -= 1;
        Some(v)
    }

    fn word(&mut self, w: &str, v: Json) -> Option<Json> {
        self.s = self.s.strip_prefix(w.as_bytes())?;
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.s = self.s.strip_prefix(b"\"")?;
        let mut out = Vec::new();
        loop {
            let (&b, rest) = self.s.split_first()?;
            self.s = rest;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let (&e, rest) = self.s.split_first()?;
                    self.s = rest;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = std::str::from_utf8(self.s.get(..4)?).ok()?;
                            let code = u32::from_str_radix(hex, 16).ok()?;
                            self.s = &self.s[4..];
                            let c = char::from_u32(code).unwrap_or('\u{fffd}');
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }
}

fn parse_json(body: &[u8]) -> Option<Json> {
    let mut p = Parser { s: body, depth: 0 };
    let v = p.value()?;
    p.ws();
    p.s.is_empty().then_some(v)
}

/// The partial success in an OTLP/JSON response (`partialSuccess` with
/// `rejectedSpans` as a string or a number, and `errorMessage`). An empty
/// body counts as full success.
pub(crate) fn partial_success_json(body: &[u8]) -> Result<Option<PartialSuccess>, ()> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let root = parse_json(body).ok_or(())?;
    let Some(p) = root.get("partialSuccess") else {
        return Ok(None);
    };
    let rejected_spans = match p.get("rejectedSpans") {
        Some(Json::String(s)) => s.parse().map_err(|_| ())?,
        Some(Json::Number(n)) => *n as i64,
        _ => 0,
    };
    let error_message = match p.get("errorMessage") {
        Some(Json::String(s)) => s.clone(),
        _ => String::new(),
    };
    let p = PartialSuccess {
        rejected_spans,
        error_message,
    };
    Ok((p.rejected_spans != 0 || !p.error_message.is_empty()).then_some(p))
}

/// The `message` of a JSON `google.rpc.Status`.
pub(crate) fn status_message_json(body: &[u8]) -> Option<String> {
    match parse_json(body)?.get("message")? {
        Json::String(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_partial_success() {
        // partial_success { rejected_spans: 3, error_message: "bad" }
        let body = [0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd'];
        assert_eq!(
            partial_success_protobuf(&body),
            Ok(Some(PartialSuccess {
                rejected_spans: 3,
                error_message: "bad".into()
            }))
        );
        assert_eq!(partial_success_protobuf(&[]), Ok(None));
        assert_eq!(partial_success_protobuf(&[0x0a, 0x00]), Ok(None));
        assert_eq!(partial_success_protobuf(&[0x0a, 0x09, 0x08]), Err(()));
        assert_eq!(
            status_message_protobuf(&[0x08, 0x0e, 0x12, 0x02, b'n', b'o']),
            Some("no".into())
        );
    }

    #[test]
    fn json_partial_success() {
        let body =
            br#" {"partialSuccess":{"rejectedSpans":"2","errorMessage":"too \"old\" \u00e9"}} "#;
        assert_eq!(
            partial_success_json(body),
            Ok(Some(PartialSuccess {
                rejected_spans: 2,
                error_message: "too \"old\" é".into()
            }))
        );
        assert_eq!(
            partial_success_json(br#"{"partialSuccess":{"rejectedSpans":5}}"#)
                .map(|p| p.map(|p| p.rejected_spans)),
            Ok(Some(5))
        );
        assert_eq!(partial_success_json(b"{}"), Ok(None));
        assert_eq!(partial_success_json(b""), Ok(None));
        assert_eq!(partial_success_json(b"{\"a\":[1,true,null,{}]}"), Ok(None));
        assert_eq!(partial_success_json(b"{"), Err(()));
        assert_eq!(partial_success_json(&[b'['; 1000]), Err(()));
        assert_eq!(
            status_message_json(br#"{"code":3,"message":"bad span"}"#),
            Some("bad span".into())
        );
    }
}
