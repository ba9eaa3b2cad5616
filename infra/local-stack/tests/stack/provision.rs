//! Provisioning against moto: tables with GSIs, TTL and streams; queues with redrive; buses.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{ProjectionType, TimeToLiveStatus};
use aws_sdk_sqs::types::QueueAttributeName;
use local_stack::plan::plan_with;
use local_stack::provision::{AwsClients, provision};
use local_stack::resolve::{Physical, Pseudo};

use crate::common::{fixture, moto_url, unique_prefix};

#[tokio::test]
async fn when_provisioning_should_create_tables_queues_and_buses_as_declared() {
    let url = moto_url().await;
    let prefix = unique_prefix();
    let pseudo = Pseudo::new("us-east-1", &prefix);
    let plan = plan_with(&fixture("provision.yaml"), &BTreeMap::new(), &pseudo).unwrap();
    let clients = AwsClients::new(&url, "us-east-1").await;
    let mut resolver = plan.resolver();
    provision(&plan, &clients, &mut resolver, &prefix).await.unwrap();

    // Table with GSIs (INCLUDE with NonKeyAttributes, KEYS_ONLY), stream, TTL.
    let Some(Physical::Table { name, arn, stream_arn }) = resolver.resource("ConversationTable").cloned() else {
        panic!("no table")
    };
    assert_eq!(name, format!("{prefix}conversation-test"));
    assert!(arn.starts_with("arn:aws:dynamodb:us-east-1:"), "{arn}");
    assert!(stream_arn.is_some());
    let table = clients.dynamodb.describe_table().table_name(&name).send().await.unwrap().table.unwrap();
    let gsis = table.global_secondary_indexes.unwrap();
    let owner = gsis.iter().find(|g| g.index_name.as_deref() == Some("OwnerIndex")).unwrap();
    let projection = owner.projection.as_ref().unwrap();
    assert_eq!(projection.projection_type, Some(ProjectionType::Include));
    assert_eq!(projection.non_key_attributes.clone().unwrap(), vec!["status".to_owned(), "subject".to_owned()]);
    let keys = gsis.iter().find(|g| g.index_name.as_deref() == Some("KeysIndex")).unwrap();
    assert_eq!(keys.projection.as_ref().unwrap().projection_type, Some(ProjectionType::KeysOnly));
    assert_eq!(
        table.billing_mode_summary.and_then(|b| b.billing_mode).map(|b| b.as_str().to_owned()).as_deref(),
        Some("PAY_PER_REQUEST")
    );
    let ttl = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name.as_deref(), Some("expires_at"));

    // A table without TableName is named prefix + logical id.
    assert!(matches!(
        resolver.resource("PlainTable"),
        Some(Physical::Table { name, .. }) if *name == format!("{prefix}PlainTable")
    ));

    // Queue with attributes and a redrive policy naming the dead-letter queue's ARN.
    let Some(Physical::Queue { url: main_url, .. }) = resolver.resource("MainQueue").cloned() else {
        panic!("no queue")
    };
    let Some(Physical::Queue { name: dlq_name, arn: dlq_arn, .. }) = resolver.resource("DeadLetters").cloned() else {
        panic!("no dlq")
    };
    assert_eq!(dlq_name, format!("{prefix}dead-test"));
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&main_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "45");
    assert_eq!(attributes[&QueueAttributeName::MessageRetentionPeriod], "3600");
    assert_eq!(attributes[&QueueAttributeName::DelaySeconds], "2");
    assert_eq!(attributes[&QueueAttributeName::ReceiveMessageWaitTimeSeconds], "3");
    let redrive: serde_json::Value = serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], dlq_arn.as_str());
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "4");

    // FIFO queue without a name gets prefix + logical id + ".fifo".
    let Some(Physical::Queue { name: fifo, .. }) = resolver.resource("OrderedQueue") else { panic!("no fifo queue") };
    assert_eq!(*fifo, format!("{prefix}OrderedQueue.fifo"));

    // Bus named with the stack name pseudo parameter.
    let Some(Physical::EventBus { name: bus, arn }) = resolver.resource("Bus").cloned() else { panic!("no bus") };
    assert_eq!(bus, format!("{prefix}{}-bus", prefix.trim_end_matches('-')));
    let described = clients.events.describe_event_bus().name(&bus).send().await.unwrap();
    assert_eq!(described.arn.as_deref(), Some(arn.as_str()));

    // A KMS key that encrypts, a bucket that stores, a rule that routes matching events to its queue.
    let Some(Physical::KmsKey { id: key_id, arn: key_arn }) = resolver.resource("CredentialsKey").cloned() else {
        panic!("no key")
    };
    assert!(key_arn.ends_with(&key_id), "{key_arn}");
    let sealed = clients
        .kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"secret".to_vec()))
        .send()
        .await
        .unwrap();
    assert!(sealed.ciphertext_blob.is_some());
    let Some(Physical::Bucket { name: bucket }) = resolver.resource("ExportBucket").cloned() else {
        panic!("no bucket")
    };
    assert_eq!(bucket, format!("{prefix}ExportBucket").to_ascii_lowercase());
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    let Some(Physical::Queue { url: push_url, .. }) = resolver.resource("PushQueue").cloned() else {
        panic!("no queue")
    };
    for source in ["switchboard.test", "other.source"] {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source(source)
            .detail_type("t")
            .detail(format!(r#"{{"from":"{source}"}}"#))
            .build();
        clients.events.put_events().entries(entry).send().await.unwrap();
    }
    let received = clients.sqs.receive_message().queue_url(&push_url).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<String> = received.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let event: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(event["detail"]["from"], "switchboard.test", "{bodies:?}");

    // Provisioning again reuses everything as is.
    let mut again = plan.resolver();
    provision(&plan, &clients, &mut again, &prefix).await.unwrap();
    assert_eq!(again.resources(), resolver.resources());
}
