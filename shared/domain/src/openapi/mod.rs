//! The Yeastar OpenAPI conventions (yeastar-openapi-messaging.md §1): `errcode`/`errmsg` replies,
//! error codes, `invalid_param_list` validation details, and typed field extraction from JSON
//! bodies and query strings. One module per resource shapes its requests and responses exactly as
//! Yeastar's pages show them.
//!
//! Every reply is HTTP 200 with `errcode` 0 or an error code (Yeastar's convention), except
//! failures of our own dependencies, which are HTTP 503 with errcode -2 so clients and gateways
//! know a retry may succeed. `errmsg` keeps Yeastar's canonical text; `submsg` says in plain words
//! what is wrong.

pub mod channels;
pub mod chat_logs;
pub mod directory;
pub mod groups;
pub mod phonebooks;
pub mod sessions;
pub mod templates;
pub mod webhook;

use serde_json::{Map, Value, json};

/// Yeastar error codes we return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrCode {
    /// -2 INTERNAL SERVER ERROR.
    Internal,
    /// -1 FAILURE (also wrong credentials on `get_token`).
    Failure,
    /// 2 PROCESSING (an idempotent request with the same key is still running).
    Processing,
    /// 10001 INTERFACE NOT EXISTED.
    InterfaceNotExisted,
    /// 10004 TOKEN EXPIRED.
    TokenExpired,
    /// 10005 ACCESS DENIED.
    AccessDenied,
    /// 40001 PARAMETER SYNTAX ERROR.
    ParameterSyntax,
    /// 40002 PARAMETER ERROR.
    Parameter,
    /// 40003 DUPLICATE KEY VALUE.
    DuplicateKey,
    /// 60001 DATA NOT FOUND.
    DataNotFound,
    /// 70084 ACTION FORBIDDEN.
    ActionForbidden,
    /// 70093 PHONEBOOK_NOT_EXISTED.
    PhonebookNotExisted,
}

impl ErrCode {
    /// The number.
    pub fn code(self) -> i64 {
        match self {
            ErrCode::Internal => -2,
            ErrCode::Failure => -1,
            ErrCode::Processing => 2,
            ErrCode::InterfaceNotExisted => 10001,
            ErrCode::TokenExpired => 10004,
            ErrCode::AccessDenied => 10005,
            ErrCode::ParameterSyntax => 40001,
            ErrCode::Parameter => 40002,
            ErrCode::DuplicateKey => 40003,
            ErrCode::DataNotFound => 60001,
            ErrCode::ActionForbidden => 70084,
            ErrCode::PhonebookNotExisted => 70093,
        }
    }

    /// Yeastar's canonical `errmsg`.
    pub fn errmsg(self) -> &'static str {
        match self {
            ErrCode::Internal => "INTERNAL SERVER ERROR",
            ErrCode::Failure => "FAILURE",
            ErrCode::Processing => "PROCESSING",
            ErrCode::InterfaceNotExisted => "INTERFACE NOT EXISTED",
            ErrCode::TokenExpired => "TOKEN EXPIRED",
            ErrCode::AccessDenied => "ACCESS DENIED",
            ErrCode::ParameterSyntax => "PARAMETER SYNTAX ERROR",
            ErrCode::Parameter => "PARAMETER ERROR",
            ErrCode::DuplicateKey => "DUPLICATE KEY VALUE",
            ErrCode::DataNotFound => "DATA NOT FOUND",
            ErrCode::ActionForbidden => "ACTION FORBIDDEN",
            ErrCode::PhonebookNotExisted => "PHONEBOOK_NOT_EXISTED",
        }
    }

    /// HTTP status of a reply with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrCode::Internal => 503,
            _ => 200,
        }
    }
}

/// One entry of `invalid_param_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `dids[0].did_number`.
    pub field: String,
    /// `required`, `type`, `range`, `length`, `format`, `enum`, `not_found`, `unsupported`.
    pub validation_type: &'static str,
    /// What is wrong, in plain words.
    pub message: String,
}

impl FieldError {
    /// Builds an entry.
    pub fn new(field: impl Into<String>, validation_type: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), validation_type, message: message.into() }
    }
}

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: ErrCode,
    /// What is wrong, in plain words.
    pub submsg: Option<String>,
    /// Per-field validation failures.
    pub invalid_params: Vec<FieldError>,
    /// `(field, value)` pairs that collide with existing data.
    pub duplicates: Vec<(String, String)>,
    /// A machine-readable reason for refusals (ours: `already_picked_up`, `closed`, ...).
    pub reason: Option<&'static str>,
}

impl ApiError {
    /// An error with a plain explanation.
    pub fn new(code: ErrCode, submsg: impl Into<String>) -> Self {
        Self { code, submsg: Some(submsg.into()), invalid_params: Vec::new(), duplicates: Vec::new(), reason: None }
    }

    /// A validation failure listing the fields.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let submsg = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ");
        Self {
            code: ErrCode::Parameter,
            submsg: Some(submsg),
            invalid_params: fields,
            duplicates: Vec::new(),
            reason: None,
        }
    }

    /// A single-field validation failure.
    pub fn field(field: &str, validation_type: &'static str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, validation_type, message)])
    }

    /// A duplicate value.
    pub fn duplicate(field: &str, value: &str, submsg: impl Into<String>) -> Self {
        Self {
            code: ErrCode::DuplicateKey,
            submsg: Some(submsg.into()),
            invalid_params: Vec::new(),
            duplicates: vec![(field.to_owned(), value.to_owned())],
            reason: None,
        }
    }

    /// Adds a machine-readable reason.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("errcode".into(), json!(self.code.code()));
        body.insert("errmsg".into(), json!(self.code.errmsg()));
        if let Some(submsg) = &self.submsg {
            body.insert("submsg".into(), json!(submsg));
        }
        if let Some(reason) = self.reason {
            body.insert("reason".into(), json!(reason));
        }
        if !self.invalid_params.is_empty() {
            let list: Vec<Value> = self
                .invalid_params
                .iter()
                .map(|f| json!({"field": f.field, "validation_type": f.validation_type, "message": f.message}))
                .collect();
            body.insert("invalid_param_list".into(), Value::Array(list));
        }
        if !self.duplicates.is_empty() {
            let list: Vec<Value> = self.duplicates.iter().map(|(f, v)| json!({"field": f, "value": v})).collect();
            body.insert("duplicate_field_list".into(), Value::Array(list));
        }
        Value::Object(body)
    }
}

/// A success reply with extra top-level keys.
pub fn success(extra: Value) -> Value {
    let mut body = Map::new();
    body.insert("errcode".into(), json!(0));
    body.insert("errmsg".into(), json!("SUCCESS"));
    if let Value::Object(map) = extra {
        body.extend(map);
    }
    Value::Object(body)
}

/// Parses a JSON request body (40001 when it is not a JSON object).
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrCode::ParameterSyntax, format!("the request body is not valid JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::new(ErrCode::ParameterSyntax, "the request body must be a JSON object"))
    }
}

/// Typed access to the fields of a JSON object (a body, or a query string turned into one),
/// collecting every problem so a reply lists them all at once.
#[derive(Debug)]
pub struct Fields<'a> {
    object: Option<&'a Map<String, Value>>,
    prefix: String,
    /// Problems found so far.
    pub errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Reads a JSON object (anything else reads as empty).
    pub fn new(value: &'a Value) -> Self {
        Self { object: value.as_object(), prefix: String::new(), errors: Vec::new() }
    }

    /// Reads a nested object, reporting fields as `prefix.field`.
    pub fn nested(value: &'a Value, prefix: impl Into<String>) -> Self {
        Self { object: value.as_object(), prefix: prefix.into(), errors: Vec::new() }
    }

    /// The full name of a field.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_owned() } else { format!("{}.{name}", self.prefix) }
    }

    fn raw(&self, name: &str) -> Option<&'a Value> {
        self.object.and_then(|o| o.get(name)).filter(|v| !v.is_null())
    }

    /// Records a problem.
    pub fn error(&mut self, name: &str, validation_type: &'static str, message: impl Into<String>) {
        let field = self.path(name);
        self.errors.push(FieldError::new(field, validation_type, message));
    }

    /// An optional string (numbers are accepted and turned into text, as Yeastar ids often are).
    pub fn opt_string(&mut self, name: &str) -> Option<String> {
        match self.raw(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                self.error(name, "type", "must be a string");
                None
            }
        }
    }

    /// A required string.
    pub fn string(&mut self, name: &str) -> Option<String> {
        if self.raw(name).is_none() {
            self.error(name, "required", "is required");
            return None;
        }
        self.opt_string(name)
    }

    /// An optional integer (numeric strings are accepted, as query strings carry text).
    pub fn opt_integer(&mut self, name: &str) -> Option<i64> {
        match self.raw(name)? {
            Value::Number(n) if n.is_i64() => n.as_i64(),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse::<i64>().ok(),
            _ => {
                self.error(name, "type", "must be an integer");
                None
            }
        }
    }

    /// A required integer.
    pub fn integer(&mut self, name: &str) -> Option<i64> {
        if self.raw(name).is_none() {
            self.error(name, "required", "is required");
            return None;
        }
        self.opt_integer(name)
    }

    /// An optional integer within an inclusive range.
    pub fn opt_integer_in(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.opt_integer(name)?;
        if (min..=max).contains(&value) {
            Some(value)
        } else {
            self.error(name, "range", format!("must be between {min} and {max}"));
            None
        }
    }

    /// An optional array.
    pub fn opt_array(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        match self.raw(name)? {
            Value::Array(a) => Some(a),
            _ => {
                self.error(name, "type", "must be an array");
                None
            }
        }
    }

    /// A required array.
    pub fn array(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        if self.raw(name).is_none() {
            self.error(name, "required", "is required");
            return None;
        }
        self.opt_array(name)
    }

    /// Fails with every collected problem, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::invalid(self.errors)) }
    }
}

/// Turns `a=1&b=x` query parameters into a JSON object of strings for [`Fields`].
pub fn query_object<'q>(pairs: impl IntoIterator<Item = (&'q str, &'q str)>) -> Value {
    let map: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect();
    Value::Object(map)
}

/// An update's request merged onto the stored value's create request: every field of `changes`
/// but `id` replaces the stored one (left-out fields keep their values).
pub fn overlay_update(mut base: Value, changes: &Value) -> Value {
    if let (Some(target), Some(given)) = (base.as_object_mut(), changes.as_object()) {
        for (k, v) in given {
            if k != "id" {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

/// Parses a comma-separated id list (`ids=3,4`).
pub fn parse_id_list(text: &str) -> Option<Vec<u64>> {
    text.split(',').map(|p| p.trim().parse::<u64>().ok().filter(|v| *v > 0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_error_is_rendered_should_keep_yeastar_keys() {
        let e = ApiError::field("name", "required", "is required");
        assert_eq!(
            e.to_json(),
            json!({"errcode": 40002, "errmsg": "PARAMETER ERROR", "submsg": "name: is required",
                   "invalid_param_list": [{"field": "name", "validation_type": "required", "message": "is required"}]})
        );
        assert_eq!(success(json!({"id": 19})), json!({"errcode": 0, "errmsg": "SUCCESS", "id": 19}));
        let d = ApiError::duplicate("number", "1000", "extension number 1000 is in use");
        assert_eq!(d.to_json()["duplicate_field_list"], json!([{"field": "number", "value": "1000"}]));
        assert_eq!(ErrCode::Internal.http_status(), 503);
        assert_eq!(ErrCode::Parameter.http_status(), 200);
    }

    #[test]
    fn when_fields_are_read_should_collect_every_problem() {
        let body = json!({"name": 5, "rate": "7", "bad": "x", "list": {}});
        let mut f = Fields::new(&body);
        assert_eq!(f.string("name"), Some("5".into()));
        assert_eq!(f.opt_integer("rate"), Some(7));
        assert_eq!(f.opt_integer("bad"), None);
        assert_eq!(f.string("missing"), None);
        assert!(f.opt_array("list").is_none());
        assert_eq!(f.opt_integer_in("rate", 1, 5), None);
        let err = f.finish().unwrap_err();
        let fields: Vec<_> = err.invalid_params.iter().map(|e| (e.field.as_str(), e.validation_type)).collect();
        assert_eq!(fields, vec![("bad", "type"), ("missing", "required"), ("list", "type"), ("rate", "range")]);
    }

    #[test]
    fn when_body_is_not_an_object_should_be_a_syntax_error() {
        assert_eq!(parse_body(b"{").unwrap_err().code, ErrCode::ParameterSyntax);
        assert_eq!(parse_body(b"[1]").unwrap_err().code, ErrCode::ParameterSyntax);
        assert!(parse_body(br#"{"a":1}"#).is_ok());
        assert_eq!(parse_id_list("3, 4"), Some(vec![3, 4]));
        assert_eq!(parse_id_list("3,x"), None);
        assert_eq!(parse_id_list("0"), None);
    }
}
