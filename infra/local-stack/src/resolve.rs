//! Intrinsic-function resolution against local physical values: parameters (defaults and
//! overrides, with their declared constraints), pseudo parameters, `Ref`/`Fn::GetAtt` of the
//! resources this crate emulates, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::If` and the
//! `Conditions` section. Anything it does not know is a [`PlanError`] naming it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::plan::PlanError;
use crate::template::Template;

/// The account id every local ARN and event uses.
pub const ACCOUNT_ID: &str = "000000000000";

/// Default stack name when the resource prefix is empty.
pub const DEFAULT_STACK_NAME: &str = "switchboard-local";

/// The values of the pseudo parameters (`AWS::Region`, `AWS::StackName`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pseudo {
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::StackName`.
    pub stack_name: String,
}

impl Pseudo {
    /// Pseudo values for a stack in `region` whose physical names start with `resource_prefix`:
    /// the stack name is the prefix without its trailing dash, or `switchboard-local`.
    pub fn new(region: &str, resource_prefix: &str) -> Pseudo {
        let trimmed = resource_prefix.trim_end_matches(['-', '_', '.']);
        let stack_name = if trimmed.is_empty() { DEFAULT_STACK_NAME.to_owned() } else { trimmed.to_owned() };
        Pseudo { region: region.to_owned(), stack_name }
    }
}

impl Default for Pseudo {
    fn default() -> Self {
        Pseudo::new("us-east-1", "")
    }
}

/// The local physical identity of one emulated resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Physical {
    /// A DynamoDB table.
    Table {
        /// Table name.
        name: String,
        /// Table ARN.
        arn: String,
        /// Latest stream ARN when streams are enabled.
        stream_arn: Option<String>,
    },
    /// An SQS queue.
    Queue {
        /// Queue name.
        name: String,
        /// Queue URL.
        url: String,
        /// Queue ARN.
        arn: String,
    },
    /// An EventBridge bus.
    EventBus {
        /// Bus name.
        name: String,
        /// Bus ARN.
        arn: String,
    },
    /// A KMS key (`Ref` gives the key id).
    KmsKey {
        /// Key id.
        id: String,
        /// Key ARN.
        arn: String,
    },
    /// An S3 bucket (`Ref` gives its name).
    Bucket {
        /// Bucket name.
        name: String,
    },
    /// An EventBridge rule (`Ref` gives its name).
    Rule {
        /// Rule name.
        name: String,
        /// Rule ARN.
        arn: String,
    },
    /// An SES identity (`Ref` gives the address or domain).
    EmailIdentity {
        /// The address or domain.
        identity: String,
    },
    /// An HTTP API (every local one is served by the same gateway).
    HttpApi {
        /// API id (`local`).
        id: String,
    },
    /// A Lambda function.
    Function {
        /// Function name.
        name: String,
        /// Function ARN.
        arn: String,
    },
}

/// Computes every declared parameter's value: the override, else the default (numbers as
/// strings), else `None` (an error only when something references it). Overrides must name
/// declared parameters and values must satisfy `AllowedValues`, `MinLength`, `MaxLength`,
/// `MinValue` and `MaxValue`.
pub fn parameter_values(
    template: &Template,
    overrides: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Option<String>>, PlanError> {
    let declared = template.section("Parameters").cloned().unwrap_or_default();
    if let Some(unknown) = overrides.keys().find(|k| !declared.contains_key(*k)) {
        return Err(PlanError::UnknownParameter { name: unknown.clone() });
    }
    let mut values = BTreeMap::new();
    for (name, decl) in &declared {
        let value = match overrides.get(name) {
            Some(v) => Some(v.clone()),
            None => match decl.get("Default") {
                Some(Value::Null) | None => None,
                Some(v) => Some(scalar_string(v).ok_or_else(|| PlanError::Invalid {
                    location: format!("Parameters.{name}.Default"),
                    reason: "a default must be a scalar".to_owned(),
                })?),
            },
        };
        if let Some(v) = &value {
            check_constraints(name, decl, v)?;
        }
        values.insert(name.clone(), value);
    }
    Ok(values)
}

fn check_constraints(name: &str, decl: &Value, value: &str) -> Result<(), PlanError> {
    let invalid = |reason: String| PlanError::InvalidParameter { name: name.to_owned(), reason };
    if let Some(allowed) = decl.get("AllowedValues").and_then(Value::as_array) {
        let allowed: Vec<String> = allowed.iter().filter_map(scalar_string).collect();
        if !allowed.iter().any(|a| a == value) {
            return Err(invalid(format!("{value:?} is not one of {allowed:?}")));
        }
    }
    let len = value.chars().count();
    if let Some(min) = decl.get("MinLength").and_then(as_f64)
        && (len as f64) < min
    {
        return Err(invalid(format!("shorter than MinLength {min}")));
    }
    if let Some(max) = decl.get("MaxLength").and_then(as_f64)
        && (len as f64) > max
    {
        return Err(invalid(format!("longer than MaxLength {max}")));
    }
    let is_number = decl.get("Type").and_then(Value::as_str) == Some("Number");
    if is_number || decl.get("MinValue").is_some() || decl.get("MaxValue").is_some() {
        let n: f64 = value.trim().parse().map_err(|_| invalid(format!("{value:?} is not a number")))?;
        if let Some(min) = decl.get("MinValue").and_then(as_f64)
            && n < min
        {
            return Err(invalid(format!("{n} is below MinValue {min}")));
        }
        if let Some(max) = decl.get("MaxValue").and_then(as_f64)
            && n > max
        {
            return Err(invalid(format!("{n} is above MaxValue {max}")));
        }
    }
    Ok(())
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A scalar as the string CloudFormation would see (`10` → `"10"`, `true` → `"true"`).
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Resolves intrinsic functions against parameters, pseudo parameters, conditions and the
/// physical values of the resources known so far.
#[derive(Debug, Clone)]
pub struct Resolver {
    parameters: BTreeMap<String, Option<String>>,
    conditions: Map<String, Value>,
    declared: BTreeMap<String, String>,
    resources: BTreeMap<String, Physical>,
    pseudo: Pseudo,
}

const MAX_DEPTH: usize = 64;

impl Resolver {
    /// A resolver for `template` with the given parameter values (see [`parameter_values`]).
    pub fn new(template: &Template, parameters: BTreeMap<String, Option<String>>, pseudo: Pseudo) -> Resolver {
        let declared = template
            .resources()
            .iter()
            .map(|(id, r)| {
                let ty = r.get("Type").and_then(Value::as_str).unwrap_or_default().to_owned();
                (id.clone(), ty)
            })
            .collect();
        Resolver {
            parameters,
            conditions: template.section("Conditions").cloned().unwrap_or_default(),
            declared,
            resources: BTreeMap::new(),
            pseudo,
        }
    }

    /// Records the physical identity of a resource so later references resolve.
    pub fn add_resource(&mut self, logical_id: &str, physical: Physical) {
        self.resources.insert(logical_id.to_owned(), physical);
    }

    /// The physical identity recorded for `logical_id`.
    pub fn resource(&self, logical_id: &str) -> Option<&Physical> {
        self.resources.get(logical_id)
    }

    /// Every recorded physical identity.
    pub fn resources(&self) -> &BTreeMap<String, Physical> {
        &self.resources
    }

    /// The pseudo parameter values in use.
    pub fn pseudo(&self) -> &Pseudo {
        &self.pseudo
    }

    /// A parameter's value (`None` when undeclared or without value).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.parameters.get(name).cloned().flatten()
    }

    /// Every declared parameter with its value.
    pub fn parameters(&self) -> &BTreeMap<String, Option<String>> {
        &self.parameters
    }

    /// Resolves `value`; `None` means `AWS::NoValue` (the key or element disappears).
    pub fn resolve(&self, value: &Value) -> Result<Option<Value>, PlanError> {
        self.resolve_at(value, 0)
    }

    /// Resolves `value` and requires a scalar, returned as a string.
    pub fn resolve_string(&self, value: &Value) -> Result<String, PlanError> {
        let resolved = self.resolve(value)?.unwrap_or(Value::Null);
        scalar_string(&resolved).ok_or_else(|| PlanError::Invalid {
            location: value.to_string(),
            reason: format!("expected a string, got {resolved}"),
        })
    }

    /// Evaluates the named condition of the `Conditions` section.
    pub fn condition(&self, name: &str) -> Result<bool, PlanError> {
        self.condition_at(name, 0)
    }

    fn condition_at(&self, name: &str, depth: usize) -> Result<bool, PlanError> {
        let def = self.conditions.get(name).ok_or_else(|| PlanError::UnknownCondition { name: name.to_owned() })?;
        self.eval_bool(def, depth + 1)
    }

    fn eval_bool(&self, v: &Value, depth: usize) -> Result<bool, PlanError> {
        if depth > MAX_DEPTH {
            return Err(too_deep(v));
        }
        if let Value::Bool(b) = v {
            return Ok(*b);
        }
        let Some((key, arg)) = single_entry(v) else {
            return Err(PlanError::Invalid { location: v.to_string(), reason: "not a condition".to_owned() });
        };
        match key {
            "Condition" => {
                let name = arg.as_str().ok_or_else(|| bad_args("Condition", arg))?;
                self.condition_at(name, depth)
            }
            "Fn::Equals" => {
                let args = args_of("Fn::Equals", arg, 2)?;
                let a = self.resolve_at(&args[0], depth + 1)?.unwrap_or(Value::Null);
                let b = self.resolve_at(&args[1], depth + 1)?.unwrap_or(Value::Null);
                Ok(match (scalar_string(&a), scalar_string(&b)) {
                    (Some(a), Some(b)) => a == b,
                    _ => a == b,
                })
            }
            "Fn::Not" => {
                let args = args_of("Fn::Not", arg, 1)?;
                Ok(!self.eval_bool(&args[0], depth + 1)?)
            }
            "Fn::And" | "Fn::Or" => {
                let args = arg.as_array().ok_or_else(|| bad_args(key, arg))?;
                let mut results = Vec::with_capacity(args.len());
                for a in args {
                    results.push(self.eval_bool(a, depth + 1)?);
                }
                Ok(if key == "Fn::And" { results.iter().all(|b| *b) } else { results.iter().any(|b| *b) })
            }
            other => Err(PlanError::UnsupportedIntrinsic { name: other.to_owned() }),
        }
    }

    fn resolve_at(&self, value: &Value, depth: usize) -> Result<Option<Value>, PlanError> {
        if depth > MAX_DEPTH {
            return Err(too_deep(value));
        }
        match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(v) = self.resolve_at(item, depth + 1)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(map) => {
                if let Some((key, arg)) = single_entry(value) {
                    if key == "Ref" {
                        let name = arg.as_str().ok_or_else(|| bad_args("Ref", arg))?;
                        return self.reference(name);
                    }
                    if let Some(result) = self.intrinsic(key, arg, depth)? {
                        return Ok(result);
                    }
                }
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(v) = self.resolve_at(v, depth + 1)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    /// Returns `Ok(None)` when `key` is not an intrinsic (the map is a plain map).
    #[allow(clippy::type_complexity)]
    fn intrinsic(&self, key: &str, arg: &Value, depth: usize) -> Result<Option<Option<Value>>, PlanError> {
        let result = match key {
            "Fn::GetAtt" => {
                let args = self.resolve_at(arg, depth + 1)?.unwrap_or(Value::Null);
                let (res, attr) = match &args {
                    Value::Array(a) if a.len() == 2 => (
                        a[0].as_str().ok_or_else(|| bad_args(key, arg))?,
                        a[1].as_str().ok_or_else(|| bad_args(key, arg))?,
                    ),
                    Value::String(s) => s.split_once('.').ok_or_else(|| bad_args(key, arg))?,
                    _ => return Err(bad_args(key, arg)),
                };
                Some(Value::String(self.get_att(res, attr)?))
            }
            "Fn::Sub" => Some(Value::String(self.sub(arg, depth)?)),
            "Fn::Join" => {
                let args = args_of(key, arg, 2)?;
                let delimiter = args[0].as_str().ok_or_else(|| bad_args(key, arg))?;
                let list = self.resolve_at(&args[1], depth + 1)?.unwrap_or(Value::Null);
                let list = list.as_array().ok_or_else(|| bad_args(key, arg))?;
                let parts = list
                    .iter()
                    .map(|v| scalar_string(v).ok_or_else(|| bad_args(key, arg)))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Value::String(parts.join(delimiter)))
            }
            "Fn::Select" => {
                let args = args_of(key, arg, 2)?;
                let index = self.resolve_at(&args[0], depth + 1)?.unwrap_or(Value::Null);
                let index: usize =
                    scalar_string(&index).and_then(|s| s.parse().ok()).ok_or_else(|| bad_args(key, arg))?;
                let list = self.resolve_at(&args[1], depth + 1)?.unwrap_or(Value::Null);
                let list = list.as_array().ok_or_else(|| bad_args(key, arg))?;
                Some(list.get(index).cloned().ok_or_else(|| PlanError::Invalid {
                    location: format!("Fn::Select {arg}"),
                    reason: format!("index {index} out of range"),
                })?)
            }
            "Fn::If" => {
                let args = args_of(key, arg, 3)?;
                let name = args[0].as_str().ok_or_else(|| bad_args(key, arg))?;
                let chosen = if self.condition_at(name, depth + 1)? { &args[1] } else { &args[2] };
                return Ok(Some(self.resolve_at(chosen, depth + 1)?));
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => {
                let mut map = Map::new();
                map.insert(key.to_owned(), arg.clone());
                Some(Value::Bool(self.eval_bool(&Value::Object(map), depth + 1)?))
            }
            other if other.starts_with("Fn::") => {
                return Err(PlanError::UnsupportedIntrinsic { name: other.to_owned() });
            }
            _ => return Ok(None),
        };
        Ok(Some(result))
    }

    fn reference(&self, name: &str) -> Result<Option<Value>, PlanError> {
        let s = |v: &str| Ok(Some(Value::String(v.to_owned())));
        match name {
            "AWS::Region" => return s(&self.pseudo.region),
            "AWS::AccountId" => return s(ACCOUNT_ID),
            "AWS::StackName" => return s(&self.pseudo.stack_name),
            "AWS::StackId" => {
                return s(&format!(
                    "arn:aws:cloudformation:{}:{ACCOUNT_ID}:stack/{}/00000000-0000-0000-0000-000000000000",
                    self.pseudo.region, self.pseudo.stack_name
                ));
            }
            "AWS::URLSuffix" => return s("amazonaws.com"),
            "AWS::Partition" => return s("aws"),
            "AWS::NoValue" => return Ok(None),
            "AWS::NotificationARNs" => return Ok(Some(Value::Array(Vec::new()))),
            _ => {}
        }
        if let Some(value) = self.parameters.get(name) {
            return match value {
                Some(v) => s(v),
                None => Err(PlanError::MissingParameter { name: name.to_owned() }),
            };
        }
        match self.resources.get(name) {
            Some(Physical::Table { name, .. }) => s(name),
            Some(Physical::Queue { url, .. }) => s(url),
            Some(Physical::EventBus { name, .. }) => s(name),
            Some(Physical::HttpApi { id }) => s(id),
            Some(Physical::EmailIdentity { identity }) => s(identity),
            Some(Physical::Function { name, .. }) => s(name),
            Some(Physical::KmsKey { id, .. }) => s(id),
            Some(Physical::Bucket { name }) => s(name),
            Some(Physical::Rule { name, .. }) => s(name),
            None => Err(self.missing_resource(name)),
        }
    }

    fn missing_resource(&self, name: &str) -> PlanError {
        if self.declared.contains_key(name) {
            PlanError::UnresolvedResource { name: name.to_owned() }
        } else {
            PlanError::UnknownReference { name: name.to_owned() }
        }
    }

    fn get_att(&self, resource: &str, attribute: &str) -> Result<String, PlanError> {
        let physical = self.resources.get(resource).ok_or_else(|| self.missing_resource(resource))?;
        let value = match (physical, attribute) {
            (Physical::Table { arn, .. }, "Arn") => Some(arn.clone()),
            (Physical::Table { stream_arn, .. }, "StreamArn") => stream_arn.clone(),
            (Physical::Queue { arn, .. }, "Arn") => Some(arn.clone()),
            (Physical::Queue { name, .. }, "QueueName") => Some(name.clone()),
            (Physical::Queue { url, .. }, "QueueUrl") => Some(url.clone()),
            (Physical::EventBus { arn, .. }, "Arn") => Some(arn.clone()),
            (Physical::EventBus { name, .. }, "Name") => Some(name.clone()),
            (Physical::Function { arn, .. }, "Arn") => Some(arn.clone()),
            (Physical::KmsKey { arn, .. }, "Arn") => Some(arn.clone()),
            (Physical::KmsKey { id, .. }, "KeyId") => Some(id.clone()),
            (Physical::Bucket { name }, "Arn") => Some(format!("arn:aws:s3:::{name}")),
            (Physical::Bucket { name }, "DomainName") => Some(format!("{name}.s3.amazonaws.com")),
            (Physical::Rule { arn, .. }, "Arn") => Some(arn.clone()),
            _ => None,
        };
        value.ok_or_else(|| PlanError::UnknownAttribute {
            resource: resource.to_owned(),
            attribute: attribute.to_owned(),
        })
    }

    fn sub(&self, arg: &Value, depth: usize) -> Result<String, PlanError> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Array(a) if a.len() == 2 => {
                let text = a[0].as_str().ok_or_else(|| bad_args("Fn::Sub", arg))?;
                let vars = a[1].as_object().ok_or_else(|| bad_args("Fn::Sub", arg))?;
                let mut resolved = Map::new();
                for (k, v) in vars {
                    let v = self.resolve_at(v, depth + 1)?.unwrap_or(Value::Null);
                    resolved.insert(k.clone(), v);
                }
                (text, resolved)
            }
            _ => return Err(bad_args("Fn::Sub", arg)),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = after.find('}').ok_or_else(|| PlanError::Invalid {
                location: format!("Fn::Sub {text:?}"),
                reason: "unterminated ${".to_owned(),
            })?;
            let name = after[..end].trim();
            let value = if let Some(v) = vars.get(name) {
                scalar_string(v).ok_or_else(|| bad_args("Fn::Sub", arg))?
            } else if let Some((res, attr)) = name.split_once('.') {
                self.get_att(res, attr)?
            } else {
                let v = self.reference(name)?.unwrap_or(Value::Null);
                scalar_string(&v).ok_or_else(|| PlanError::Invalid {
                    location: format!("Fn::Sub {text:?}"),
                    reason: format!("${{{name}}} is not a string"),
                })?
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The logical ids of resources that `value` references (`Ref`, `Fn::GetAtt`, `${X}` and
/// `${X.Attr}` in `Fn::Sub`), excluding parameters and pseudo parameters.
pub fn referenced_resources(value: &Value, template: &Template) -> Vec<String> {
    let resources = template.resources();
    let mut out = Vec::new();
    collect_references(value, &mut out);
    out.retain(|r| resources.contains_key(r));
    out.sort();
    out.dedup();
    out
}

fn collect_references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("Ref", Value::String(name)) => out.push(name.clone()),
                    ("Fn::GetAtt", Value::Array(a)) => {
                        if let Some(Value::String(name)) = a.first() {
                            out.push(name.clone());
                        }
                    }
                    ("Fn::GetAtt", Value::String(s)) => {
                        out.push(s.split('.').next().unwrap_or_default().to_owned());
                    }
                    ("Fn::Sub", arg) => {
                        let text = match arg {
                            Value::String(s) => Some(s.as_str()),
                            Value::Array(a) => {
                                if let Some(vars) = a.get(1) {
                                    collect_references(vars, out);
                                }
                                a.first().and_then(Value::as_str)
                            }
                            _ => None,
                        };
                        if let Some(text) = text {
                            sub_names(text, out);
                        }
                    }
                    _ => collect_references(v, out),
                }
            }
        }
        _ => {}
    }
}

fn sub_names(text: &str, out: &mut Vec<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            rest = literal;
            continue;
        }
        let Some(end) = after.find('}') else { return };
        let name = after[..end].trim();
        out.push(name.split('.').next().unwrap_or_default().to_owned());
        rest = &after[end + 1..];
    }
}

fn single_entry(v: &Value) -> Option<(&str, &Value)> {
    match v {
        Value::Object(map) if map.len() == 1 => map.iter().next().map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

fn args_of<'a>(name: &str, arg: &'a Value, n: usize) -> Result<&'a [Value], PlanError> {
    match arg {
        Value::Array(a) if a.len() == n => Ok(a.as_slice()),
        _ => Err(bad_args(name, arg)),
    }
}

fn bad_args(name: &str, arg: &Value) -> PlanError {
    PlanError::Invalid { location: format!("{name} {arg}"), reason: format!("malformed arguments for {name}") }
}

fn too_deep(v: &Value) -> PlanError {
    PlanError::Invalid {
        location: v.to_string(),
        reason: "intrinsics nested too deeply (or a condition cycle)".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    const TEMPLATE: &str = r#"
Parameters:
  Env: { Type: String, Default: dev, AllowedValues: [dev, prod] }
  Count: { Type: Number, Default: 5, MinValue: 1, MaxValue: 10 }
  Secret: { Type: String, MinLength: 4 }
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [!Ref Count, 5]]
  Either: !Or [!Condition IsProd, !Equals [a, b]]
Resources:
  Table: { Type: AWS::DynamoDB::Table }
  Queue: { Type: AWS::SQS::Queue }
  Bus: { Type: AWS::Events::EventBus }
  Pending: { Type: AWS::SQS::Queue }
"#;

    fn resolver(overrides: &[(&str, &str)]) -> Resolver {
        let template = Template::parse(Path::new("t.yaml"), TEMPLATE).unwrap();
        let overrides = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let params = parameter_values(&template, &overrides).unwrap();
        let mut r = Resolver::new(&template, params, Pseudo::new("eu-west-1", "t1-"));
        r.add_resource(
            "Table",
            Physical::Table {
                name: "t1-table".into(),
                arn: "arn:aws:dynamodb:eu-west-1:000000000000:table/t1-table".into(),
                stream_arn: None,
            },
        );
        r.add_resource(
            "Queue",
            Physical::Queue {
                name: "t1-q".into(),
                url: "http://x/000000000000/t1-q".into(),
                arn: "arn:aws:sqs:eu-west-1:000000000000:t1-q".into(),
            },
        );
        r.add_resource(
            "Bus",
            Physical::EventBus {
                name: "t1-bus".into(),
                arn: "arn:aws:events:eu-west-1:000000000000:event-bus/t1-bus".into(),
            },
        );
        r
    }

    fn yaml(text: &str) -> Value {
        Template::parse(Path::new("x.yaml"), text).unwrap().document.get("V").cloned().unwrap()
    }

    fn resolve(r: &Resolver, text: &str) -> Option<Value> {
        r.resolve(&yaml(text)).unwrap()
    }

    #[test]
    fn when_refs_name_parameters_pseudos_and_resources_should_give_local_values() {
        let r = resolver(&[]);
        assert_eq!(resolve(&r, "V: !Ref Env"), Some(json!("dev")));
        assert_eq!(resolve(&r, "V: !Ref Count"), Some(json!("5")));
        assert_eq!(resolve(&r, "V: !Ref AWS::Region"), Some(json!("eu-west-1")));
        assert_eq!(resolve(&r, "V: !Ref AWS::AccountId"), Some(json!("000000000000")));
        assert_eq!(resolve(&r, "V: !Ref AWS::StackName"), Some(json!("t1")));
        assert_eq!(resolve(&r, "V: !Ref AWS::URLSuffix"), Some(json!("amazonaws.com")));
        assert_eq!(resolve(&r, "V: !Ref AWS::Partition"), Some(json!("aws")));
        assert_eq!(resolve(&r, "V: !Ref Table"), Some(json!("t1-table")));
        assert_eq!(resolve(&r, "V: !Ref Queue"), Some(json!("http://x/000000000000/t1-q")));
        assert_eq!(resolve(&r, "V: !Ref Bus"), Some(json!("t1-bus")));
    }

    #[test]
    fn when_get_att_names_known_attributes_should_give_arns_and_names() {
        let r = resolver(&[]);
        assert_eq!(resolve(&r, "V: !GetAtt Queue.Arn"), Some(json!("arn:aws:sqs:eu-west-1:000000000000:t1-q")));
        assert_eq!(resolve(&r, "V: !GetAtt Queue.QueueName"), Some(json!("t1-q")));
        assert_eq!(resolve(&r, "V: !GetAtt Queue.QueueUrl"), Some(json!("http://x/000000000000/t1-q")));
        assert_eq!(resolve(&r, "V: !GetAtt Bus.Name"), Some(json!("t1-bus")));
        assert_eq!(
            resolve(&r, "V: {\"Fn::GetAtt\": [Table, Arn]}"),
            Some(json!("arn:aws:dynamodb:eu-west-1:000000000000:table/t1-table"))
        );
        let err = r.resolve(&yaml("V: !GetAtt Table.StreamArn")).unwrap_err();
        assert!(matches!(err, PlanError::UnknownAttribute { .. }), "{err}");
    }

    #[test]
    fn when_sub_is_used_in_both_forms_should_substitute_everything() {
        let r = resolver(&[("Env", "prod")]);
        assert_eq!(
            resolve(&r, "V: !Sub \"${AWS::Region}/${Env}/${Table}/${Table.Arn}/${!Literal}\""),
            Some(json!("eu-west-1/prod/t1-table/arn:aws:dynamodb:eu-west-1:000000000000:table/t1-table/${Literal}"))
        );
        assert_eq!(resolve(&r, "V: !Sub [\"${A}-${Env}\", {A: !Ref Bus}]"), Some(json!("t1-bus-prod")));
    }

    #[test]
    fn when_join_select_and_if_are_used_should_evaluate_them() {
        let dev = resolver(&[]);
        let prod = resolver(&[("Env", "prod")]);
        assert_eq!(resolve(&dev, "V: !Join [\"-\", [a, !Ref Env, 3]]"), Some(json!("a-dev-3")));
        assert_eq!(resolve(&dev, "V: !Select [1, [a, !Ref Env]]"), Some(json!("dev")));
        assert_eq!(resolve(&dev, "V: !If [IsProd, p, d]"), Some(json!("d")));
        assert_eq!(resolve(&prod, "V: !If [IsProd, p, d]"), Some(json!("p")));
        assert_eq!(resolve(&dev, "V: !If [Both, yes, no]"), Some(json!("yes")));
        assert_eq!(resolve(&prod, "V: !If [Either, yes, no]"), Some(json!("yes")));
        assert_eq!(resolve(&dev, "V: !If [Either, yes, no]"), Some(json!("no")));
    }

    #[test]
    fn when_no_value_is_chosen_should_remove_the_key_or_element() {
        let r = resolver(&[]);
        assert_eq!(
            resolve(&r, "V: {a: !If [IsProd, x, !Ref AWS::NoValue], b: [1, !Ref AWS::NoValue, 2]}"),
            Some(json!({"b": [1, 2]}))
        );
    }

    #[test]
    fn when_a_parameter_has_no_value_should_fail_naming_it() {
        let r = resolver(&[]);
        let err = r.resolve(&yaml("V: !Ref Secret")).unwrap_err();
        assert!(matches!(err, PlanError::MissingParameter { .. }));
        assert!(err.to_string().contains("Secret"), "{err}");
        let r = resolver(&[("Secret", "abcd")]);
        assert_eq!(resolve(&r, "V: !Ref Secret"), Some(json!("abcd")));
    }

    #[test]
    fn when_parameter_values_break_constraints_should_fail() {
        let template = Template::parse(Path::new("t.yaml"), TEMPLATE).unwrap();
        for (k, v) in [("Env", "qa"), ("Count", "11"), ("Secret", "abc"), ("Nope", "1")] {
            let overrides = BTreeMap::from([(k.to_owned(), v.to_owned())]);
            let err = parameter_values(&template, &overrides).unwrap_err();
            assert!(err.to_string().contains(k), "{k}: {err}");
        }
    }

    #[test]
    fn when_an_intrinsic_is_unknown_or_a_resource_is_missing_should_fail_naming_it() {
        let r = resolver(&[]);
        let err = r.resolve(&yaml("V: !FindInMap [M, a, b]")).unwrap_err();
        assert!(err.to_string().contains("Fn::FindInMap"), "{err}");
        let err = r.resolve(&yaml("V: !Ref Nowhere")).unwrap_err();
        assert!(matches!(err, PlanError::UnknownReference { .. }), "{err}");
        let err = r.resolve(&yaml("V: !GetAtt Pending.Arn")).unwrap_err();
        assert!(matches!(err, PlanError::UnresolvedResource { .. }), "{err}");
        let err = r.resolve(&yaml("V: !If [Nope, a, b]")).unwrap_err();
        assert!(err.to_string().contains("Nope"), "{err}");
    }

    #[test]
    fn when_collecting_references_should_find_ref_get_att_and_sub_names() {
        let template = Template::parse(Path::new("t.yaml"), TEMPLATE).unwrap();
        let v = yaml("V: {a: !Ref Table, b: !GetAtt Queue.Arn, c: !Sub \"${Bus.Arn}/${Env}/${!Pending}\"}");
        assert_eq!(referenced_resources(&v, &template), vec!["Bus".to_owned(), "Queue".to_owned(), "Table".to_owned()]);
    }
}
