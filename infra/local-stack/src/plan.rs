//! The plan: one local binding for every resource and event the template declares (functions,
//! HTTP routes, queues, SQS event sources, schedules, tables, event buses, HTTP APIs), with SAM's
//! `Globals.Function` merged in. Anything the local stack cannot emulate is a [`PlanError`], so a
//! template change that the local stack does not cover fails loudly instead of being skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::resolve::{Pseudo, Resolver, parameter_values, referenced_resources, scalar_string};
use crate::template::Template;

/// Resource types that are accepted but have nothing to emulate locally, each with the reason.
/// Add a type here only when the template uses it.
pub const IGNORED_RESOURCE_TYPES: &[(&str, &str)] =
    &[("AWS::SQS::QueuePolicy", "the emulator's queues accept messages from every local sender")];

/// SAM's default function timeout in seconds.
const DEFAULT_TIMEOUT_SECONDS: u64 = 3;
/// SAM's default memory size in MB.
const DEFAULT_MEMORY_SIZE: u32 = 128;

/// Why a template could not be planned or resolved.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The template file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The template is not valid YAML.
    #[error("cannot parse {path}: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_yaml_ng::Error,
    },
    /// A function's `CodeUri` does not lead to a usable Cargo manifest.
    #[error("cannot use the Cargo manifest {path}: {reason}")]
    Manifest {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Something is malformed.
    #[error("invalid template at {location}: {reason}")]
    Invalid {
        /// Where.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// An intrinsic function (or short-form tag) the resolver does not implement.
    #[error("unsupported intrinsic function {name}")]
    UnsupportedIntrinsic {
        /// Its name, e.g. `Fn::FindInMap`.
        name: String,
    },
    /// A resource type, event type or property the local stack has no binding for.
    #[error("unsupported {kind} {name} at {location}: the local stack has no binding for it")]
    Unsupported {
        /// `resource type`, `event type`, `property`, ...
        kind: String,
        /// The type or property name.
        name: String,
        /// Where it was found.
        location: String,
    },
    /// A schedule expression the local scheduler cannot run.
    #[error("unsupported schedule expression {expression:?} at {location}")]
    UnsupportedSchedule {
        /// The expression.
        expression: String,
        /// Where it was found.
        location: String,
    },
    /// A referenced parameter has neither a default nor an override.
    #[error("parameter {name} has no default and no override")]
    MissingParameter {
        /// The parameter.
        name: String,
    },
    /// An override names a parameter the template does not declare.
    #[error("parameter override {name} is not declared in the template")]
    UnknownParameter {
        /// The parameter.
        name: String,
    },
    /// A parameter value breaks the parameter's constraints.
    #[error("parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// The broken constraint.
        reason: String,
    },
    /// `Ref`/`Fn::GetAtt` of a name that is neither a parameter nor a resource.
    #[error("reference to unknown name {name}")]
    UnknownReference {
        /// The name.
        name: String,
    },
    /// A reference to a resource whose physical value is not known (yet).
    #[error("resource {name} has no local physical value (yet)")]
    UnresolvedResource {
        /// The resource.
        name: String,
    },
    /// `Fn::GetAtt` of an attribute the local binding does not provide.
    #[error("attribute {attribute} of {resource} is not available locally")]
    UnknownAttribute {
        /// The resource.
        resource: String,
        /// The attribute.
        attribute: String,
    },
    /// `Fn::If`/`Condition` naming an undeclared condition.
    #[error("unknown condition {name}")]
    UnknownCondition {
        /// The condition.
        name: String,
    },
    /// A dependency cycle between resources.
    #[error("dependency cycle between resources: {resources:?}")]
    Cycle {
        /// The resources involved.
        resources: Vec<String>,
    },
}

/// The local binding of every resource and event of a template.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The parsed template.
    pub template: Template,
    /// Every declared parameter with its value (`None`: no default and no override).
    pub parameters: BTreeMap<String, Option<String>>,
    /// The pseudo parameter values names were resolved with.
    pub pseudo: Pseudo,
    /// Every `AWS::Serverless::Function`.
    pub functions: Vec<FunctionBinding>,
    /// Every `HttpApi` event.
    pub routes: Vec<RouteBinding>,
    /// Every `AWS::SQS::Queue`.
    pub queues: Vec<QueueBinding>,
    /// Every `SQS` event.
    pub sqs_sources: Vec<SqsSourceBinding>,
    /// Every `Schedule`/`ScheduleV2` event.
    pub schedules: Vec<ScheduleBinding>,
    /// Every `AWS::DynamoDB::Table`.
    pub tables: Vec<TableBinding>,
    /// Every `AWS::Events::EventBus`.
    pub event_buses: Vec<EventBusBinding>,
    /// Every `AWS::Serverless::HttpApi`.
    pub http_apis: Vec<HttpApiBinding>,
    /// Every `AWS::SES::EmailIdentity` (the emulator accepts mail only from verified senders).
    pub email_identities: Vec<EmailIdentityBinding>,
    /// Every `AWS::KMS::Key`, `AWS::S3::Bucket` and `AWS::Events::Rule`: resources created in the
    /// emulator as they are, in dependency order with the tables, queues and buses.
    pub others: Vec<OtherBinding>,
    /// Resources accepted through [`IGNORED_RESOURCE_TYPES`]: `(logical id, type)`.
    pub ignored: Vec<(String, String)>,
}

/// An SES sender identity, verified in the emulator at provisioning.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailIdentityBinding {
    /// Logical id in the template.
    pub logical_id: String,
    /// The address or domain.
    pub identity: String,
}

/// A function run as child processes of its real binary.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionBinding {
    /// Logical id in the template.
    pub logical_id: String,
    /// The template's `FunctionName` (resolved) or the logical id; the stack adds its prefix.
    pub function_name: String,
    /// The resolved `CodeUri` directory.
    pub code_uri: PathBuf,
    /// The Cargo package at `CodeUri`.
    pub package: String,
    /// The binary the package builds (its `[[bin]]` name, or the package name).
    pub binary_name: String,
    /// `Timeout`.
    pub timeout: Duration,
    /// `MemorySize` in MB.
    pub memory_size: u32,
    /// `Environment.Variables`, unresolved (globals merged in).
    pub environment: BTreeMap<String, Value>,
    /// `LoggingConfig`, unresolved (globals merged in).
    pub logging_config: Value,
    /// The function's events.
    pub events: Vec<EventBinding>,
}

/// One event of a function.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBinding {
    /// An `HttpApi` event.
    HttpApi(RouteBinding),
    /// An `SQS` event.
    Sqs(SqsSourceBinding),
    /// A `Schedule` or `ScheduleV2` event.
    Schedule(ScheduleBinding),
}

/// An HTTP API route served by the local gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteBinding {
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// Route path with `{param}`/`{param+}` segments, or `$default`.
    pub path: String,
    /// The function's logical id.
    pub function: String,
    /// The event's name.
    pub event_name: String,
}

impl RouteBinding {
    /// The API Gateway route key (`POST /path/{p}`, or `$default`).
    pub fn route_key(&self) -> String {
        if self.path == "$default" { "$default".to_owned() } else { format!("{} {}", self.method, self.path) }
    }
}

/// A queue created in the emulator.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBinding {
    /// Logical id.
    pub logical_id: String,
    /// The template's `QueueName` (resolved), if it gives one.
    pub queue_name: Option<String>,
    /// Functions with an `SQS` event on this queue.
    pub consumers: Vec<String>,
    /// The logical id of the `RedrivePolicy` dead-letter queue.
    pub dead_letter_queue: Option<String>,
    /// `RedrivePolicy.maxReceiveCount`.
    pub max_receive_count: Option<u32>,
    /// The unresolved `Properties`.
    pub properties: Value,
}

/// An SQS event source mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsSourceBinding {
    /// The function's logical id.
    pub function: String,
    /// The event's name.
    pub event_name: String,
    /// The queue's logical id.
    pub queue: String,
    /// `BatchSize` (default 10).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub maximum_batching_window: Duration,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: Option<usize>,
    /// `Enabled` (default true).
    pub enabled: bool,
}

/// Which EventBridge flavour a schedule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// `Schedule`: a classic EventBridge rule.
    Rule,
    /// `ScheduleV2`: EventBridge Scheduler.
    Scheduler,
}

/// A periodic invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleBinding {
    /// The function's logical id.
    pub function: String,
    /// The event's name.
    pub event_name: String,
    /// Rule or Scheduler.
    pub kind: ScheduleKind,
    /// The `rate(...)` expression.
    pub expression: String,
    /// The period the expression denotes.
    pub period: Duration,
    /// Whether the schedule fires on its own.
    pub enabled: bool,
    /// `Input` (a JSON document as text), if given.
    pub input: Option<String>,
}

/// A DynamoDB table created in the emulator.
#[derive(Debug, Clone, PartialEq)]
pub struct TableBinding {
    /// Logical id.
    pub logical_id: String,
    /// The template's `TableName` (resolved), if it gives one.
    pub table_name: Option<String>,
    /// The unresolved `Properties`.
    pub properties: Value,
}

/// An EventBridge bus created in the emulator.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBusBinding {
    /// Logical id.
    pub logical_id: String,
    /// The template's `Name` (resolved), if it gives one.
    pub bus_name: Option<String>,
    /// The unresolved `Properties`.
    pub properties: Value,
}

/// What an [`OtherBinding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherKind {
    /// `AWS::KMS::Key`.
    KmsKey,
    /// `AWS::S3::Bucket` (`BucketName`, or prefix + logical id, lower-cased).
    Bucket,
    /// `AWS::Events::Rule` with an `EventPattern` and SQS queue targets.
    Rule,
}

/// A KMS key, an S3 bucket or an EventBridge rule.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherBinding {
    /// Logical id.
    pub logical_id: String,
    /// What it is.
    pub kind: OtherKind,
    /// The template's name for it (`BucketName`, `Name`), if it gives one.
    pub name: Option<String>,
    /// The unresolved `Properties`.
    pub properties: Value,
}

/// An HTTP API (all are served by the one local gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApiBinding {
    /// Logical id.
    pub logical_id: String,
}

/// Plans `template_path` with parameter overrides `params` (pseudo parameters: `us-east-1`,
/// stack `switchboard-local`).
pub fn plan(template_path: &Path, params: &BTreeMap<String, String>) -> Result<Plan, PlanError> {
    plan_with(template_path, params, &Pseudo::default())
}

/// Plans `template_path` with explicit pseudo parameter values.
pub fn plan_with(template_path: &Path, params: &BTreeMap<String, String>, pseudo: &Pseudo) -> Result<Plan, PlanError> {
    let template = Template::load(template_path)?;
    plan_template(template, params, pseudo)
}

/// Plans an already parsed template.
pub fn plan_template(
    template: Template,
    params: &BTreeMap<String, String>,
    pseudo: &Pseudo,
) -> Result<Plan, PlanError> {
    let parameters = parameter_values(&template, params)?;
    let resolver = Resolver::new(&template, parameters.clone(), pseudo.clone());
    let globals = template
        .section("Globals")
        .and_then(|g| g.get("Function"))
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let mut plan = Plan {
        template: template.clone(),
        parameters,
        pseudo: pseudo.clone(),
        functions: Vec::new(),
        routes: Vec::new(),
        queues: Vec::new(),
        sqs_sources: Vec::new(),
        schedules: Vec::new(),
        tables: Vec::new(),
        event_buses: Vec::new(),
        http_apis: Vec::new(),
        email_identities: Vec::new(),
        others: Vec::new(),
        ignored: Vec::new(),
    };
    for (logical_id, resource) in template.resources() {
        let ty = resource
            .get("Type")
            .and_then(Value::as_str)
            .ok_or_else(|| PlanError::Invalid {
                location: format!("Resources.{logical_id}"),
                reason: "missing Type".to_owned(),
            })?
            .to_owned();
        if let Some(condition) = resource.get("Condition").and_then(Value::as_str)
            && !resolver.condition(condition)?
        {
            continue;
        }
        let properties = resource.get("Properties").cloned().unwrap_or_else(|| Value::Object(Map::new()));
        let name_of = |key: &str| -> Result<Option<String>, PlanError> {
            match properties.get(key) {
                None => Ok(None),
                Some(v) => match resolver.resolve(v)? {
                    None => Ok(None),
                    Some(resolved) => Ok(Some(scalar_string(&resolved).ok_or_else(|| PlanError::Invalid {
                        location: format!("Resources.{logical_id}.Properties.{key}"),
                        reason: "expected a string".to_owned(),
                    })?)),
                },
            }
        };
        match ty.as_str() {
            "AWS::Serverless::Function" => {
                let function = plan_function(&template, &resolver, &logical_id, &resource, &globals)?;
                plan.functions.push(function);
            }
            "AWS::SQS::Queue" => {
                let redrive = properties.get("RedrivePolicy");
                let dead_letter_queue = redrive
                    .and_then(|r| r.get("deadLetterTargetArn"))
                    .and_then(|arn| referenced_resources(arn, &template).into_iter().next());
                let max_receive_count = match redrive.and_then(|r| r.get("maxReceiveCount")) {
                    Some(v) => Some(resolver.resolve_string(v)?.parse().map_err(|_| PlanError::Invalid {
                        location: format!("Resources.{logical_id}.RedrivePolicy"),
                        reason: "maxReceiveCount is not a number".to_owned(),
                    })?),
                    None => None,
                };
                plan.queues.push(QueueBinding {
                    logical_id: logical_id.clone(),
                    queue_name: name_of("QueueName")?,
                    consumers: Vec::new(),
                    dead_letter_queue,
                    max_receive_count,
                    properties,
                });
            }
            "AWS::DynamoDB::Table" => plan.tables.push(TableBinding {
                logical_id: logical_id.clone(),
                table_name: name_of("TableName")?,
                properties,
            }),
            "AWS::Events::EventBus" => plan.event_buses.push(EventBusBinding {
                logical_id: logical_id.clone(),
                bus_name: name_of("Name")?,
                properties,
            }),
            "AWS::Serverless::HttpApi" => plan.http_apis.push(HttpApiBinding { logical_id: logical_id.clone() }),
            "AWS::SES::EmailIdentity" => plan.email_identities.push(EmailIdentityBinding {
                logical_id: logical_id.clone(),
                identity: name_of("EmailIdentity")?.ok_or_else(|| PlanError::Invalid {
                    location: format!("Resources.{logical_id}.Properties.EmailIdentity"),
                    reason: "missing EmailIdentity".to_owned(),
                })?,
            }),
            "AWS::KMS::Key" => plan.others.push(OtherBinding {
                logical_id: logical_id.clone(),
                kind: OtherKind::KmsKey,
                name: None,
                properties,
            }),
            "AWS::S3::Bucket" => plan.others.push(OtherBinding {
                logical_id: logical_id.clone(),
                kind: OtherKind::Bucket,
                name: name_of("BucketName")?,
                properties,
            }),
            "AWS::Events::Rule" => plan.others.push(OtherBinding {
                logical_id: logical_id.clone(),
                kind: OtherKind::Rule,
                name: name_of("Name")?,
                properties,
            }),
            other => {
                if IGNORED_RESOURCE_TYPES.iter().any(|(t, _)| *t == other) {
                    plan.ignored.push((logical_id.clone(), other.to_owned()));
                } else {
                    return Err(PlanError::Unsupported {
                        kind: "resource type".to_owned(),
                        name: other.to_owned(),
                        location: format!("Resources.{logical_id}"),
                    });
                }
            }
        }
    }
    // Index events, and check every SQS event names a planned queue.
    for function in &plan.functions {
        for event in &function.events {
            match event {
                EventBinding::HttpApi(route) => plan.routes.push(route.clone()),
                EventBinding::Sqs(source) => plan.sqs_sources.push(source.clone()),
                EventBinding::Schedule(schedule) => plan.schedules.push(schedule.clone()),
            }
        }
    }
    for source in &plan.sqs_sources {
        let queue =
            plan.queues.iter_mut().find(|q| q.logical_id == source.queue).ok_or_else(|| PlanError::Invalid {
                location: format!("Resources.{}.Events.{}", source.function, source.event_name),
                reason: format!("{} is not an AWS::SQS::Queue of this template", source.queue),
            })?;
        queue.consumers.push(source.function.clone());
    }
    Ok(plan)
}

impl Plan {
    /// The binding of function `logical_id`.
    pub fn function(&self, logical_id: &str) -> Option<&FunctionBinding> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// The binding of queue `logical_id`.
    pub fn queue(&self, logical_id: &str) -> Option<&QueueBinding> {
        self.queues.iter().find(|q| q.logical_id == logical_id)
    }

    /// A resolver with this plan's parameters and pseudo parameters (no resources yet).
    pub fn resolver(&self) -> Resolver {
        Resolver::new(&self.template, self.parameters.clone(), self.pseudo.clone())
    }

    /// One human-readable line per binding.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for t in &self.tables {
            lines.push(format!("table {}", t.logical_id));
        }
        for q in &self.queues {
            let dlq = q.dead_letter_queue.as_deref().map(|d| format!(" (dead letters -> {d})")).unwrap_or_default();
            lines.push(format!("queue {}{dlq}", q.logical_id));
        }
        for b in &self.event_buses {
            lines.push(format!("event bus {}", b.logical_id));
        }
        for a in &self.http_apis {
            lines.push(format!("http api {}", a.logical_id));
        }
        for f in &self.functions {
            lines.push(format!(
                "function {} -> binary {} (timeout {}s, {} MB)",
                f.logical_id,
                f.binary_name,
                f.timeout.as_secs(),
                f.memory_size
            ));
        }
        for r in &self.routes {
            lines.push(format!("route {} -> {}", r.route_key(), r.function));
        }
        for s in &self.sqs_sources {
            lines.push(format!(
                "sqs {} -> {} (batch {}, window {}s, partial failures {}, concurrency {:?})",
                s.queue,
                s.function,
                s.batch_size,
                s.maximum_batching_window.as_secs(),
                s.report_batch_item_failures,
                s.maximum_concurrency
            ));
        }
        for s in &self.schedules {
            lines.push(format!("schedule {} -> {}.{} (enabled {})", s.expression, s.function, s.event_name, s.enabled));
        }
        for (id, ty) in &self.ignored {
            lines.push(format!("ignored {id} ({ty})"));
        }
        lines
    }
}

/// Merges SAM globals into a function's properties: scalars and lists from the function win
/// (lists are concatenated, globals first, as SAM does), maps merge key by key.
pub fn merge_globals(globals: &Value, properties: &Value) -> Value {
    match (globals, properties) {
        (Value::Object(g), Value::Object(p)) => {
            let mut out = g.clone();
            for (k, v) in p {
                let merged = match out.get(k) {
                    Some(gv) => merge_globals(gv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(g), Value::Array(p)) => {
            let mut out = g.clone();
            out.extend(p.iter().cloned());
            Value::Array(out)
        }
        (_, p) => p.clone(),
    }
}

fn plan_function(
    template: &Template,
    resolver: &Resolver,
    logical_id: &str,
    resource: &Value,
    globals: &Value,
) -> Result<FunctionBinding, PlanError> {
    let location = format!("Resources.{logical_id}");
    let own = resource.get("Properties").cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let props = merge_globals(globals, &own);
    let invalid = |what: &str| PlanError::Invalid {
        location: format!("{location}.Properties.{what}"),
        reason: format!("{what} is missing or malformed"),
    };
    let code_uri = match props.get("CodeUri") {
        Some(Value::String(s)) => s.clone(),
        Some(v) if v.is_object() && v.get("Bucket").is_none() => resolver.resolve_string(v)?,
        Some(_) => {
            return Err(PlanError::Unsupported {
                kind: "property".to_owned(),
                name: "CodeUri (S3 location)".to_owned(),
                location,
            });
        }
        None => return Err(invalid("CodeUri")),
    };
    let code_uri = template.base_dir().join(code_uri);
    let (package, binary_name) = cargo_binary(&code_uri, resource)?;
    let number = |key: &str, default: u64| -> Result<u64, PlanError> {
        match props.get(key) {
            None => Ok(default),
            Some(v) => resolver.resolve_string(v)?.trim().parse::<u64>().map_err(|_| invalid(key)),
        }
    };
    let timeout = Duration::from_secs(number("Timeout", DEFAULT_TIMEOUT_SECONDS)?);
    let memory_size =
        u32::try_from(number("MemorySize", u64::from(DEFAULT_MEMORY_SIZE))?).map_err(|_| invalid("MemorySize"))?;
    let environment = props
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_object)
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let function_name = match props.get("FunctionName") {
        Some(v) => resolver.resolve_string(v)?,
        None => logical_id.to_owned(),
    };
    let mut events = Vec::new();
    if let Some(evs) = props.get("Events").and_then(Value::as_object) {
        for (event_name, event) in evs {
            events.push(plan_event(template, resolver, logical_id, event_name, event)?);
        }
    }
    Ok(FunctionBinding {
        logical_id: logical_id.to_owned(),
        function_name,
        code_uri,
        package,
        binary_name,
        timeout,
        memory_size,
        environment,
        logging_config: props.get("LoggingConfig").cloned().unwrap_or_else(|| Value::Object(Map::new())),
        events,
    })
}

fn plan_event(
    template: &Template,
    resolver: &Resolver,
    function: &str,
    event_name: &str,
    event: &Value,
) -> Result<EventBinding, PlanError> {
    let location = format!("Resources.{function}.Events.{event_name}");
    let ty = event
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| PlanError::Invalid { location: location.clone(), reason: "missing Type".to_owned() })?;
    let props = event.get("Properties").cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let unsupported_property = |name: &str| PlanError::Unsupported {
        kind: format!("{ty} event property"),
        name: name.to_owned(),
        location: location.clone(),
    };
    let string_prop = |key: &str| -> Result<Option<String>, PlanError> {
        props.get(key).map(|v| resolver.resolve_string(v)).transpose()
    };
    let bool_prop = |key: &str, default: bool| -> Result<bool, PlanError> {
        Ok(match string_prop(key)? {
            None => default,
            Some(s) => s.eq_ignore_ascii_case("true"),
        })
    };
    match ty {
        "HttpApi" => {
            for key in ["Auth", "RequestParameters"] {
                if props.get(key).is_some() {
                    return Err(unsupported_property(key));
                }
            }
            if let Some(version) = string_prop("PayloadFormatVersion")?
                && version != "2.0"
            {
                return Err(unsupported_property("PayloadFormatVersion 1.0"));
            }
            let path = string_prop("Path")?;
            let method = string_prop("Method")?;
            let (path, method) = match (path, method) {
                (None, None) => ("$default".to_owned(), "ANY".to_owned()),
                (Some(p), m) => {
                    let m = m.unwrap_or_else(|| "ANY".to_owned()).to_ascii_uppercase();
                    let m = if m == "X-AMAZON-APIGATEWAY-ANY-METHOD" || m == "*" { "ANY".to_owned() } else { m };
                    (p, m)
                }
                (None, Some(_)) => {
                    return Err(PlanError::Invalid { location, reason: "Method without Path".to_owned() });
                }
            };
            Ok(EventBinding::HttpApi(RouteBinding {
                method,
                path,
                function: function.to_owned(),
                event_name: event_name.to_owned(),
            }))
        }
        "SQS" => {
            if props.get("FilterCriteria").is_some() {
                return Err(unsupported_property("FilterCriteria"));
            }
            let queue_ref = props
                .get("Queue")
                .ok_or_else(|| PlanError::Invalid { location: location.clone(), reason: "missing Queue".to_owned() })?;
            let queue =
                referenced_resources(queue_ref, template).into_iter().next().ok_or_else(|| PlanError::Unsupported {
                    kind: "SQS event queue".to_owned(),
                    name: queue_ref.to_string(),
                    location: location.clone(),
                })?;
            let number = |key: &str| -> Result<Option<u64>, PlanError> {
                string_prop(key)?
                    .map(|s| {
                        s.trim().parse::<u64>().map_err(|_| PlanError::Invalid {
                            location: format!("{location}.{key}"),
                            reason: "not a number".to_owned(),
                        })
                    })
                    .transpose()
            };
            let batch_size = number("BatchSize")?.unwrap_or(10);
            let window = number("MaximumBatchingWindowInSeconds")?.unwrap_or(0);
            let report = match props.get("FunctionResponseTypes") {
                None => false,
                Some(v) => {
                    let resolved = resolver.resolve(v)?.unwrap_or(Value::Null);
                    resolved
                        .as_array()
                        .map(|a| a.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures")))
                        .unwrap_or(false)
                }
            };
            let maximum_concurrency = match props.get("ScalingConfig").and_then(|s| s.get("MaximumConcurrency")) {
                None => None,
                Some(v) => {
                    Some(resolver.resolve_string(v)?.trim().parse::<usize>().map_err(|_| PlanError::Invalid {
                        location: format!("{location}.ScalingConfig"),
                        reason: "MaximumConcurrency is not a number".to_owned(),
                    })?)
                }
            };
            Ok(EventBinding::Sqs(SqsSourceBinding {
                function: function.to_owned(),
                event_name: event_name.to_owned(),
                queue,
                batch_size: u32::try_from(batch_size.max(1)).unwrap_or(10),
                maximum_batching_window: Duration::from_secs(window),
                report_batch_item_failures: report,
                maximum_concurrency,
                enabled: bool_prop("Enabled", true)?,
            }))
        }
        "Schedule" | "ScheduleV2" => {
            let (kind, key) = if ty == "Schedule" {
                (ScheduleKind::Rule, "Schedule")
            } else {
                (ScheduleKind::Scheduler, "ScheduleExpression")
            };
            let expression = string_prop(key)?
                .ok_or_else(|| PlanError::Invalid { location: location.clone(), reason: format!("missing {key}") })?;
            let period = parse_rate(&expression).ok_or_else(|| PlanError::UnsupportedSchedule {
                expression: expression.clone(),
                location: location.clone(),
            })?;
            let state_enabled = string_prop("State")?.map(|s| s.eq_ignore_ascii_case("ENABLED")).unwrap_or(true);
            let input = string_prop("Input")?;
            if kind == ScheduleKind::Rule
                && let Some(text) = &input
            {
                serde_json::from_str::<Value>(text).map_err(|e| PlanError::Invalid {
                    location: format!("{location}.Input"),
                    reason: format!("not JSON: {e}"),
                })?;
            }
            Ok(EventBinding::Schedule(ScheduleBinding {
                function: function.to_owned(),
                event_name: event_name.to_owned(),
                kind,
                expression,
                period,
                enabled: bool_prop("Enabled", true)? && state_enabled,
                input,
            }))
        }
        other => Err(PlanError::Unsupported { kind: "event type".to_owned(), name: other.to_owned(), location }),
    }
}

/// The period of `rate(N minute|minutes|hour|hours|day|days)`; `None` for anything else
/// (including `cron(...)`).
pub fn parse_rate(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let mut parts = inner.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    let unit = parts.next()?;
    if parts.next().is_some() || n == 0 {
        return None;
    }
    let seconds = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(seconds)?))
}

/// The package name and binary name of the Cargo package at `code_uri`.
fn cargo_binary(code_uri: &Path, resource: &Value) -> Result<(String, String), PlanError> {
    let manifest = code_uri.join("Cargo.toml");
    let bad = |reason: String| PlanError::Manifest { path: manifest.clone(), reason };
    let text = std::fs::read_to_string(&manifest).map_err(|e| bad(e.to_string()))?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let package = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| bad("no [package] name".to_owned()))?
        .to_owned();
    if let Some(binary) = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
    {
        return Ok((package, binary.to_owned()));
    }
    let bins: Vec<String> = doc
        .get("bin")
        .and_then(toml::Value::as_array)
        .map(|bins| {
            bins.iter().filter_map(|b| b.get("name").and_then(toml::Value::as_str)).map(str::to_owned).collect()
        })
        .unwrap_or_default();
    let binary = match bins.as_slice() {
        [] => package.clone(),
        [only] => only.clone(),
        many => many
            .iter()
            .find(|b| **b == package || *b == "bootstrap")
            .cloned()
            .ok_or_else(|| bad(format!("several [[bin]] targets {many:?}; set Metadata.BuildProperties.Binary")))?,
    };
    Ok((package, binary))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn when_parsing_rates_should_accept_minutes_hours_and_days_only() {
        assert_eq!(parse_rate("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(parse_rate("rate(5 minutes)"), Some(Duration::from_secs(300)));
        assert_eq!(parse_rate("rate(2 hours)"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_rate("rate(1 day)"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_rate("rate(0 minutes)"), None);
        assert_eq!(parse_rate("rate(1 second)"), None);
        assert_eq!(parse_rate("cron(0 12 * * ? *)"), None);
    }

    #[test]
    fn when_merging_globals_should_let_the_function_win_and_merge_variables() {
        let globals = json!({
            "Timeout": 10,
            "MemorySize": 256,
            "Environment": {"Variables": {"A": "global", "B": "global"}},
            "Layers": ["g"]
        });
        let own = json!({
            "Timeout": 30,
            "Environment": {"Variables": {"B": "function", "C": "function"}},
            "Layers": ["f"]
        });
        assert_eq!(
            merge_globals(&globals, &own),
            json!({
                "Timeout": 30,
                "MemorySize": 256,
                "Environment": {"Variables": {"A": "global", "B": "function", "C": "function"}},
                "Layers": ["g", "f"]
            })
        );
    }
}
