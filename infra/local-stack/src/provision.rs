//! Provisioning: creates every table, queue and event bus of a [`Plan`] in the emulator (in
//! dependency order, so a queue's `RedrivePolicy` can name its dead-letter queue's ARN) and
//! records their physical names/URLs/ARNs in a [`Resolver`]. Idempotent: existing resources with
//! the same physical name are reused as they are.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::plan::{OtherKind, Plan, PlanError};
use crate::resolve::{Physical, Resolver, referenced_resources, scalar_string};

/// Credentials every local client (and every function process) uses.
pub const DUMMY_ACCESS_KEY_ID: &str = "testing";
/// Secret counterpart of [`DUMMY_ACCESS_KEY_ID`].
pub const DUMMY_SECRET_ACCESS_KEY: &str = "testing";
/// Session token counterpart of [`DUMMY_ACCESS_KEY_ID`].
pub const DUMMY_SESSION_TOKEN: &str = "testing";

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A property could not be resolved.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The emulator refused a call.
    #[error("{operation} for {resource} failed: {message}")]
    Aws {
        /// The API operation.
        operation: &'static str,
        /// The logical id (or name) concerned.
        resource: String,
        /// The SDK error with its context.
        message: String,
    },
    /// A resource's properties cannot be provisioned.
    #[error("cannot provision {resource}: {reason}")]
    Invalid {
        /// The logical id.
        resource: String,
        /// What is wrong.
        reason: String,
    },
}

/// SDK clients pointed at the emulator.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// EventBridge.
    pub events: aws_sdk_eventbridge::Client,
    /// SES (v2).
    pub ses: aws_sdk_sesv2::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// S3 (path-style addressing: the emulator is one host).
    pub s3: aws_sdk_s3::Client,
}

impl AwsClients {
    /// Clients for `endpoint_url` in `region`, with dummy static credentials.
    pub async fn new(endpoint_url: &str, region: &str) -> AwsClients {
        let config = sdk_config(endpoint_url, region).await;
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            ses: aws_sdk_sesv2::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
            ),
        }
    }
}

/// The shared SDK configuration for the emulator.
pub async fn sdk_config(endpoint_url: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(aws_sdk_sqs::config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            DUMMY_ACCESS_KEY_ID,
            DUMMY_SECRET_ACCESS_KEY,
            None,
            None,
            "local",
        ))
        .load()
        .await
}

fn aws_error<E>(operation: &'static str, resource: &str, err: E) -> ProvisionError
where
    E: std::error::Error + 'static,
{
    ProvisionError::Aws {
        operation,
        resource: resource.to_owned(),
        message: aws_sdk_sqs::error::DisplayErrorContext(&err).to_string(),
    }
}

/// The physical name of a table/queue/bus: `prefix` + the template's name, or `prefix` +
/// logical id when the template gives none.
pub fn physical_name(prefix: &str, template_name: Option<&str>, logical_id: &str) -> String {
    format!("{prefix}{}", template_name.unwrap_or(logical_id))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Table,
    Queue,
    Bus,
    Other(OtherKind),
}

/// Creates every table, queue and bus of `plan` and records them in `resolver`.
pub async fn provision(
    plan: &Plan,
    clients: &AwsClients,
    resolver: &mut Resolver,
    prefix: &str,
) -> Result<(), ProvisionError> {
    let mut pending: BTreeMap<String, (Kind, &Value)> = BTreeMap::new();
    for t in &plan.tables {
        pending.insert(t.logical_id.clone(), (Kind::Table, &t.properties));
    }
    for q in &plan.queues {
        pending.insert(q.logical_id.clone(), (Kind::Queue, &q.properties));
    }
    for b in &plan.event_buses {
        pending.insert(b.logical_id.clone(), (Kind::Bus, &b.properties));
    }
    for o in &plan.others {
        pending.insert(o.logical_id.clone(), (Kind::Other(o.kind), &o.properties));
    }
    for identity in &plan.email_identities {
        // Local stand-in for SES verification: the emulator only sends from verified senders.
        let result = clients.ses.create_email_identity().email_identity(&identity.identity).send().await;
        if let Err(err) = result
            && !err.as_service_error().is_some_and(|e| e.is_already_exists_exception())
        {
            return Err(aws_error("CreateEmailIdentity", &identity.logical_id, err));
        }
        resolver.add_resource(&identity.logical_id, Physical::EmailIdentity { identity: identity.identity.clone() });
    }
    let ids: BTreeSet<String> = pending.keys().cloned().collect();
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .iter()
            .filter(|(id, (_, props))| {
                referenced_resources(props, &plan.template)
                    .iter()
                    .all(|dep| *dep == **id || !ids.contains(dep) || resolver.resource(dep).is_some())
            })
            .map(|(id, _)| id.clone())
            .collect();
        if ready.is_empty() {
            return Err(PlanError::Cycle { resources: pending.keys().cloned().collect() }.into());
        }
        for id in ready {
            let Some((kind, props)) = pending.remove(&id) else {
                continue;
            };
            let resolved = resolver.resolve(props)?.unwrap_or_else(|| Value::Object(Default::default()));
            let physical = match kind {
                Kind::Table => {
                    let name = plan.tables.iter().find(|t| t.logical_id == id).and_then(|t| t.table_name.as_deref());
                    let name = physical_name(prefix, name, &id);
                    create_table(&clients.dynamodb, &id, &name, &resolved).await?
                }
                Kind::Queue => {
                    let template_name =
                        plan.queues.iter().find(|q| q.logical_id == id).and_then(|q| q.queue_name.as_deref());
                    let mut name = physical_name(prefix, template_name, &id);
                    let fifo = resolved.get("FifoQueue").and_then(scalar_string).is_some_and(|s| s == "true");
                    if fifo && !name.ends_with(".fifo") {
                        name.push_str(".fifo");
                    }
                    create_queue(&clients.sqs, &id, &name, &resolved).await?
                }
                Kind::Bus => {
                    let name = plan.event_buses.iter().find(|b| b.logical_id == id).and_then(|b| b.bus_name.as_deref());
                    let name = physical_name(prefix, name, &id);
                    create_event_bus(&clients.events, &id, &name).await?
                }
                Kind::Other(other) => {
                    let name = plan.others.iter().find(|o| o.logical_id == id).and_then(|o| o.name.as_deref());
                    let name = physical_name(prefix, name, &id);
                    match other {
                        OtherKind::KmsKey => create_kms_key(&clients.kms, &id, &name, &resolved).await?,
                        OtherKind::Bucket => create_bucket(&clients.s3, &id, &name).await?,
                        OtherKind::Rule => create_rule(&clients.events, &id, &name, &resolved).await?,
                    }
                }
            };
            tracing::debug!(logical_id = %id, ?physical, "provisioned");
            resolver.add_resource(&id, physical);
        }
    }
    for api in &plan.http_apis {
        resolver.add_resource(&api.logical_id, Physical::HttpApi { id: "local".to_owned() });
    }
    Ok(())
}

fn str_field<'a>(v: &'a Value, key: &str, resource: &str) -> Result<&'a str, ProvisionError> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| ProvisionError::Invalid {
        resource: resource.to_owned(),
        reason: format!("{key} is missing in {v}"),
    })
}

fn key_schema(v: Option<&Value>, resource: &str) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    let items = v.and_then(Value::as_array).ok_or_else(|| ProvisionError::Invalid {
        resource: resource.to_owned(),
        reason: "KeySchema is missing".to_owned(),
    })?;
    items
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_field(k, "AttributeName", resource)?)
                .key_type(KeyType::from(str_field(k, "KeyType", resource)?))
                .build()
                .map_err(|e| aws_error("KeySchemaElement", resource, e))
        })
        .collect()
}

fn projection(v: Option<&Value>, resource: &str) -> Result<Projection, ProvisionError> {
    let Some(p) = v else {
        return Ok(Projection::builder().projection_type(ProjectionType::All).build());
    };
    let ty = p.get("ProjectionType").and_then(Value::as_str).unwrap_or("ALL");
    let non_key = match p.get("NonKeyAttributes") {
        None => None,
        Some(attrs) => Some(
            attrs
                .as_array()
                .ok_or_else(|| ProvisionError::Invalid {
                    resource: resource.to_owned(),
                    reason: "NonKeyAttributes is not a list".to_owned(),
                })?
                .iter()
                .filter_map(scalar_string)
                .collect(),
        ),
    };
    Ok(Projection::builder().projection_type(ProjectionType::from(ty)).set_non_key_attributes(non_key).build())
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    id: &str,
    name: &str,
    props: &Value,
) -> Result<Physical, ProvisionError> {
    let attributes = props
        .get("AttributeDefinitions")
        .and_then(Value::as_array)
        .ok_or_else(|| ProvisionError::Invalid {
            resource: id.to_owned(),
            reason: "AttributeDefinitions is missing".to_owned(),
        })?
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(str_field(a, "AttributeName", id)?)
                .attribute_type(ScalarAttributeType::from(str_field(a, "AttributeType", id)?))
                .build()
                .map_err(|e| aws_error("AttributeDefinition", id, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut gsis = Vec::new();
    for g in props.get("GlobalSecondaryIndexes").and_then(Value::as_array).into_iter().flatten() {
        gsis.push(
            GlobalSecondaryIndex::builder()
                .index_name(str_field(g, "IndexName", id)?)
                .set_key_schema(Some(key_schema(g.get("KeySchema"), id)?))
                .projection(projection(g.get("Projection"), id)?)
                .build()
                .map_err(|e| aws_error("GlobalSecondaryIndex", id, e))?,
        );
    }
    let mut lsis = Vec::new();
    for l in props.get("LocalSecondaryIndexes").and_then(Value::as_array).into_iter().flatten() {
        lsis.push(
            LocalSecondaryIndex::builder()
                .index_name(str_field(l, "IndexName", id)?)
                .set_key_schema(Some(key_schema(l.get("KeySchema"), id)?))
                .projection(projection(l.get("Projection"), id)?)
                .build()
                .map_err(|e| aws_error("LocalSecondaryIndex", id, e))?,
        );
    }
    let stream = match props.get("StreamSpecification").and_then(|s| s.get("StreamViewType")).and_then(Value::as_str) {
        Some(view) => Some(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view))
                .build()
                .map_err(|e| aws_error("StreamSpecification", id, e))?,
        ),
        None => None,
    };
    let created = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(props.get("KeySchema"), id)?))
        .set_global_secondary_indexes((!gsis.is_empty()).then_some(gsis))
        .set_local_secondary_indexes((!lsis.is_empty()).then_some(lsis))
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(stream)
        .send()
        .await;
    let description = match created {
        Ok(out) => {
            let ttl = props.get("TimeToLiveSpecification");
            let enabled = ttl.and_then(|t| t.get("Enabled")).and_then(scalar_string).is_some_and(|s| s == "true");
            if let (true, Some(ttl)) = (enabled, ttl) {
                let spec = TimeToLiveSpecification::builder()
                    .attribute_name(str_field(ttl, "AttributeName", id)?)
                    .enabled(true)
                    .build()
                    .map_err(|e| aws_error("TimeToLiveSpecification", id, e))?;
                client
                    .update_time_to_live()
                    .table_name(name)
                    .time_to_live_specification(spec)
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateTimeToLive", id, e))?;
            }
            out.table_description
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {
            client.describe_table().table_name(name).send().await.map_err(|e| aws_error("DescribeTable", id, e))?.table
        }
        Err(e) => return Err(aws_error("CreateTable", id, e)),
    };
    let description = description.ok_or_else(|| ProvisionError::Invalid {
        resource: id.to_owned(),
        reason: "the emulator returned no table description".to_owned(),
    })?;
    Ok(Physical::Table {
        name: name.to_owned(),
        arn: description
            .table_arn
            .unwrap_or_else(|| format!("arn:aws:dynamodb:us-east-1:{}:table/{name}", crate::resolve::ACCOUNT_ID)),
        stream_arn: description.latest_stream_arn,
    })
}

const QUEUE_ATTRIBUTES: &[&str] = &[
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    id: &str,
    name: &str,
    props: &Value,
) -> Result<Physical, ProvisionError> {
    let mut attributes = HashMap::new();
    for key in QUEUE_ATTRIBUTES {
        if let Some(v) = props.get(*key).and_then(scalar_string) {
            attributes.insert(QueueAttributeName::from(*key), v);
        }
    }
    for key in ["RedrivePolicy", "RedriveAllowPolicy"] {
        match props.get(key) {
            None => {}
            Some(Value::String(s)) => {
                attributes.insert(QueueAttributeName::from(key), s.clone());
            }
            Some(v) => {
                attributes.insert(QueueAttributeName::from(key), v.to_string());
            }
        }
    }
    let url = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| aws_error("CreateQueue", id, e))?
        .queue_url
        .ok_or_else(|| ProvisionError::Invalid {
            resource: id.to_owned(),
            reason: "the emulator returned no queue URL".to_owned(),
        })?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_error("GetQueueAttributes", id, e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| ProvisionError::Invalid {
            resource: id.to_owned(),
            reason: "the emulator returned no queue ARN".to_owned(),
        })?;
    Ok(Physical::Queue { name: name.to_owned(), url, arn })
}

async fn create_event_bus(
    client: &aws_sdk_eventbridge::Client,
    id: &str,
    name: &str,
) -> Result<Physical, ProvisionError> {
    let arn = match client.create_event_bus().name(name).send().await {
        Ok(out) => out.event_bus_arn,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) => {
            client.describe_event_bus().name(name).send().await.map_err(|e| aws_error("DescribeEventBus", id, e))?.arn
        }
        Err(e) => return Err(aws_error("CreateEventBus", id, e)),
    };
    let arn = arn.ok_or_else(|| ProvisionError::Invalid {
        resource: id.to_owned(),
        reason: "the emulator returned no event bus ARN".to_owned(),
    })?;
    Ok(Physical::EventBus { name: name.to_owned(), arn })
}

/// A KMS key, found again through its alias `alias/<physical name>` when provisioning reruns.
async fn create_kms_key(
    client: &aws_sdk_kms::Client,
    id: &str,
    name: &str,
    props: &Value,
) -> Result<Physical, ProvisionError> {
    let alias: String = format!(
        "alias/{}",
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
            .collect::<String>()
    );
    let metadata = match client.describe_key().key_id(&alias).send().await {
        Ok(found) => found.key_metadata,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found_exception()) => {
            let mut request = client.create_key();
            if let Some(description) = props.get("Description").and_then(Value::as_str) {
                request = request.description(description);
            }
            let created = request.send().await.map_err(|e| aws_error("CreateKey", id, e))?.key_metadata;
            if let Some(key) = &created {
                client
                    .create_alias()
                    .alias_name(&alias)
                    .target_key_id(&key.key_id)
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateAlias", id, e))?;
            }
            created
        }
        Err(err) => return Err(aws_error("DescribeKey", id, err)),
    };
    let metadata = metadata.ok_or_else(|| ProvisionError::Invalid {
        resource: id.to_owned(),
        reason: "the emulator returned no key metadata".to_owned(),
    })?;
    let arn = metadata
        .arn
        .clone()
        .unwrap_or_else(|| format!("arn:aws:kms:us-east-1:{}:key/{}", crate::resolve::ACCOUNT_ID, metadata.key_id));
    Ok(Physical::KmsKey { id: metadata.key_id, arn })
}

/// S3 bucket names are lower case, 3-63 characters of letters, digits, `-` and `.`.
fn bucket_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    out.truncate(63);
    while out.len() < 3 {
        out.push('0');
    }
    out
}

async fn create_bucket(client: &aws_sdk_s3::Client, id: &str, name: &str) -> Result<Physical, ProvisionError> {
    let name = bucket_name(name);
    match client.create_bucket().bucket(&name).send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()) => {}
        Err(err) => return Err(aws_error("CreateBucket", id, err)),
    }
    Ok(Physical::Bucket { name })
}

/// An `AWS::Events::Rule`: its pattern on its bus, and its targets (SQS queues locally).
async fn create_rule(
    client: &aws_sdk_eventbridge::Client,
    id: &str,
    name: &str,
    props: &Value,
) -> Result<Physical, ProvisionError> {
    let invalid = |reason: &str| ProvisionError::Invalid { resource: id.to_owned(), reason: reason.to_owned() };
    let bus = props.get("EventBusName").and_then(scalar_string).unwrap_or_else(|| "default".to_owned());
    // An ARN names the bus by its last path segment.
    let bus = bus.rsplit('/').next().unwrap_or(&bus).to_owned();
    let pattern = match props.get("EventPattern") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Object(_)) => v.to_string(),
        _ => return Err(invalid("EventPattern is missing (schedule rules are not emulated here)")),
    };
    let state = props.get("State").and_then(Value::as_str).unwrap_or("ENABLED");
    let out = client
        .put_rule()
        .name(name)
        .event_bus_name(&bus)
        .event_pattern(pattern)
        .state(aws_sdk_eventbridge::types::RuleState::from(state))
        .send()
        .await
        .map_err(|e| aws_error("PutRule", id, e))?;
    let mut targets = Vec::new();
    for target in props.get("Targets").and_then(Value::as_array).into_iter().flatten() {
        let arn = str_field(target, "Arn", id)?;
        if !arn.starts_with("arn:aws:sqs:") {
            return Err(invalid(&format!("target {arn} is not an SQS queue (the only target emulated)")));
        }
        let mut built = aws_sdk_eventbridge::types::Target::builder().id(str_field(target, "Id", id)?).arn(arn);
        if let Some(input) = target.get("Input").and_then(Value::as_str) {
            built = built.input(input);
        }
        if let Some(path) = target.get("InputPath").and_then(Value::as_str) {
            built = built.input_path(path);
        }
        targets.push(built.build().map_err(|e| aws_error("Target", id, e))?);
    }
    if targets.is_empty() {
        return Err(invalid("a rule needs at least one target"));
    }
    client
        .put_targets()
        .rule(name)
        .event_bus_name(&bus)
        .set_targets(Some(targets))
        .send()
        .await
        .map_err(|e| aws_error("PutTargets", id, e))?;
    let arn = out
        .rule_arn
        .unwrap_or_else(|| format!("arn:aws:events:us-east-1:{}:rule/{bus}/{name}", crate::resolve::ACCOUNT_ID));
    Ok(Physical::Rule { name: name.to_owned(), arn })
}
