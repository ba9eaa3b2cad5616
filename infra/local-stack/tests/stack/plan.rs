//! Planning: the real template is fully bound; unknown things fail; intrinsics resolve.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use local_stack::plan::{EventBinding, IGNORED_RESOURCE_TYPES, PlanError, ScheduleKind, plan_with};
use local_stack::resolve::Pseudo;
use serde_yaml_ng::Value as Yaml;

use crate::common::{fixture, workspace_root};

fn s(v: &Yaml) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Counts what the raw YAML declares, independently of `plan()`.
#[derive(Default, Debug)]
struct Declared {
    functions: BTreeSet<String>,
    http_events: BTreeSet<(String, String)>,
    sqs_events: BTreeSet<(String, String)>,
    schedule_events: BTreeSet<(String, String)>,
    other_events: Vec<String>,
    queues: BTreeSet<String>,
    tables: BTreeSet<String>,
    buses: BTreeSet<String>,
    http_apis: BTreeSet<String>,
    email_identities: BTreeSet<String>,
    others: BTreeSet<String>,
    other_resources: Vec<String>,
}

fn declared(text: &str) -> Declared {
    let raw: Yaml = serde_yaml_ng::from_str(text).unwrap();
    let mut d = Declared::default();
    let resources = raw.get("Resources").and_then(Yaml::as_mapping).unwrap();
    for (id, resource) in resources {
        let id = s(id);
        let ty = s(resource.get("Type").unwrap());
        match ty.as_str() {
            "AWS::Serverless::Function" => {
                d.functions.insert(id.clone());
                let events = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Yaml::as_mapping);
                for (name, event) in events.into_iter().flatten() {
                    let key = (id.clone(), s(name));
                    match s(event.get("Type").unwrap()).as_str() {
                        "HttpApi" => d.http_events.insert(key),
                        "SQS" => d.sqs_events.insert(key),
                        "Schedule" | "ScheduleV2" => d.schedule_events.insert(key),
                        other => {
                            d.other_events.push(format!("{id}.{}: {other}", s(name)));
                            true
                        }
                    };
                }
            }
            "AWS::SQS::Queue" => {
                d.queues.insert(id);
            }
            "AWS::DynamoDB::Table" => {
                d.tables.insert(id);
            }
            "AWS::Events::EventBus" => {
                d.buses.insert(id);
            }
            "AWS::Serverless::HttpApi" => {
                d.http_apis.insert(id);
            }
            "AWS::SES::EmailIdentity" => {
                d.email_identities.insert(id);
            }
            "AWS::KMS::Key" | "AWS::S3::Bucket" | "AWS::Events::Rule" => {
                d.others.insert(id);
            }
            other => {
                if !IGNORED_RESOURCE_TYPES.iter().any(|(t, _)| *t == other) {
                    d.other_resources.push(format!("{id}: {other}"));
                }
            }
        }
    }
    d
}

#[test]
fn when_planning_the_real_template_should_bind_every_resource_and_event() {
    let path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let d = declared(&text);
    assert!(d.other_events.is_empty(), "events without a local binding: {:?}", d.other_events);
    assert!(d.other_resources.is_empty(), "resources without a local binding: {:?}", d.other_resources);
    assert!(!d.functions.is_empty() && !d.http_events.is_empty());

    let plan = local_stack::plan(&path, &BTreeMap::new()).unwrap();

    let functions: BTreeSet<String> = plan.functions.iter().map(|f| f.logical_id.clone()).collect();
    assert_eq!(functions, d.functions);
    let routes: BTreeSet<(String, String)> =
        plan.routes.iter().map(|r| (r.function.clone(), r.event_name.clone())).collect();
    assert_eq!(routes, d.http_events);
    let sqs: BTreeSet<(String, String)> =
        plan.sqs_sources.iter().map(|r| (r.function.clone(), r.event_name.clone())).collect();
    assert_eq!(sqs, d.sqs_events);
    let schedules: BTreeSet<(String, String)> =
        plan.schedules.iter().map(|r| (r.function.clone(), r.event_name.clone())).collect();
    assert_eq!(schedules, d.schedule_events);
    let queues: BTreeSet<String> = plan.queues.iter().map(|q| q.logical_id.clone()).collect();
    assert_eq!(queues, d.queues);
    let tables: BTreeSet<String> = plan.tables.iter().map(|t| t.logical_id.clone()).collect();
    assert_eq!(tables, d.tables);
    let buses: BTreeSet<String> = plan.event_buses.iter().map(|b| b.logical_id.clone()).collect();
    assert_eq!(buses, d.buses);
    let apis: BTreeSet<String> = plan.http_apis.iter().map(|a| a.logical_id.clone()).collect();
    assert_eq!(apis, d.http_apis);
    let others: BTreeSet<String> = plan.others.iter().map(|o| o.logical_id.clone()).collect();
    assert_eq!(others, d.others);
    // SES identities are conditional on a sender address: none by default, each one when set.
    assert!(plan.email_identities.is_empty(), "{:?}", plan.email_identities);
    let with_mail =
        local_stack::plan(&path, &BTreeMap::from([("SlaMailFrom".to_owned(), "sla@example.com".to_owned())])).unwrap();
    let identities: BTreeSet<String> = with_mail.email_identities.iter().map(|e| e.logical_id.clone()).collect();
    assert_eq!(identities, d.email_identities);
    assert!(with_mail.email_identities.iter().all(|e| e.identity == "sla@example.com"));

    // Every SQS source feeds from a planned queue, and every queue knows its consumers.
    for source in &plan.sqs_sources {
        let queue = plan.queue(&source.queue).unwrap();
        assert!(queue.consumers.contains(&source.function));
    }
    // Every function's binary is its package's binary.
    for f in &plan.functions {
        assert!(!f.binary_name.is_empty(), "{}", f.logical_id);
        assert!(f.code_uri.join("Cargo.toml").is_file(), "{}", f.logical_id);
    }
}

fn plan_err(name: &str) -> PlanError {
    plan_with(&fixture(name), &BTreeMap::new(), &Pseudo::default()).unwrap_err()
}

#[test]
fn when_an_event_type_is_unknown_should_fail_naming_it() {
    let err = plan_err("bad-event.yaml");
    assert!(matches!(&err, PlanError::Unsupported { kind, name, .. } if kind == "event type" && name == "S3"), "{err}");
    assert!(err.to_string().contains("Fn.Events.Upload"), "{err}");
}

#[test]
fn when_a_resource_type_is_unknown_should_fail_naming_it() {
    let err = plan_err("bad-resource.yaml");
    assert!(matches!(&err, PlanError::Unsupported { name, .. } if name == "AWS::SNS::Topic"), "{err}");
}

#[test]
fn when_an_intrinsic_is_unknown_should_fail_naming_it() {
    let err = plan_err("bad-intrinsic.yaml");
    assert!(matches!(&err, PlanError::UnsupportedIntrinsic { name } if name == "Fn::FindInMap"), "{err}");
}

#[test]
fn when_a_schedule_uses_cron_should_fail_as_unsupported_schedule() {
    let err = plan_err("cron.yaml");
    assert!(
        matches!(&err, PlanError::UnsupportedSchedule { expression, .. } if expression.starts_with("cron(")),
        "{err}"
    );
}

#[test]
fn when_planning_should_resolve_names_conditions_and_globals() {
    let pseudo = Pseudo::new("eu-west-1", "stk-");
    let dev = plan_with(&fixture("intrinsics.yaml"), &BTreeMap::new(), &pseudo).unwrap();
    assert_eq!(dev.queues.len(), 1, "ProdOnly exists only in prod");
    assert_eq!(dev.queues[0].queue_name.as_deref(), Some("stk-dev-d"));
    assert_eq!(dev.tables[0].table_name.as_deref(), Some("stk-dev-${Literal}"));
    let f = &dev.functions[0];
    assert_eq!(f.function_name, "fn-dev");
    assert_eq!(f.package, "echo_lambda");
    assert_eq!(f.binary_name, "echo_lambda");
    assert_eq!(f.timeout, Duration::from_secs(20));
    assert_eq!(f.memory_size, 512);
    assert_eq!(f.environment["FROM_GLOBALS"], "g");
    assert_eq!(f.environment["SHARED"], "f");
    assert_eq!(f.events.len(), 3);
    assert!(f.events.iter().any(|e| matches!(e, EventBinding::Sqs(s) if s.queue == "Queue" && s.batch_size == 10 && !s.report_batch_item_failures)));
    let schedule = &dev.schedules[0];
    assert_eq!(schedule.kind, ScheduleKind::Rule);
    assert_eq!(schedule.period, Duration::from_secs(3600));
    assert!(!schedule.enabled);
    assert_eq!(schedule.input.as_deref(), Some("{\"a\":1}"));
    assert_eq!(dev.routes[0].route_key(), "$default");

    let params = BTreeMap::from([("Env".to_owned(), "prod".to_owned()), ("Size".to_owned(), "1024".to_owned())]);
    let prod = plan_with(&fixture("intrinsics.yaml"), &params, &pseudo).unwrap();
    assert_eq!(prod.queues.len(), 2);
    let main = prod.queue("Queue").unwrap();
    assert_eq!(main.queue_name.as_deref(), Some("stk-prod-p"));
    assert_eq!(prod.functions[0].function_name, "fn-prod");
    assert_eq!(prod.functions[0].memory_size, 1024);

    let bad = BTreeMap::from([("Env".to_owned(), "qa".to_owned())]);
    let err = plan_with(&fixture("intrinsics.yaml"), &bad, &pseudo).unwrap_err();
    assert!(matches!(err, PlanError::InvalidParameter { .. }), "{err}");
}

#[test]
fn when_a_name_needs_a_parameter_without_value_should_fail_naming_it() {
    let dir = std::env::temp_dir().join(format!("ls-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("missing.yaml");
    std::fs::write(
        &path,
        "Parameters:\n  Name: { Type: String }\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: { QueueName: !Ref Name }\n",
    )
    .unwrap();
    let err = local_stack::plan(&path, &BTreeMap::new()).unwrap_err();
    assert!(matches!(&err, PlanError::MissingParameter { name } if name == "Name"), "{err}");
    let ok = local_stack::plan(&path, &BTreeMap::from([("Name".to_owned(), "given".to_owned())])).unwrap();
    assert_eq!(ok.queues[0].queue_name.as_deref(), Some("given"));
    let _ = std::fs::remove_dir_all(dir);
}
