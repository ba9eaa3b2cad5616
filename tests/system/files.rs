//! Files through the HTTP route (`message/batchupload`): an agent and an administrator upload
//! files as multipart/form-data, each `uri` downloads the same bytes; refusals (no file, a file
//! without a name, a body that is not a form) store nothing; and the DynamoDB + S3 adapter reads a
//! file past its 72 hours as gone.

use std::time::Duration;

use adapters::dynamodb::{DynamoStore, Tables};
use adapters::files::S3FileObjects;
use adapters::system::SystemClock;
use domain::files::{FILE_RETENTION, FileId, StoredFile};
use domain::ports::{Clock, FileStore};
use local_stack::resolve::Physical;
use serde_json::Value;
use system_tests::{AGENT_PASSWORD, TestStack};

const BOUNDARY: &str = "----SwitchboardBoundary7MA4YWxkTrZu0gW";

/// One form part: `(field, filename, content type, bytes)`.
pub(crate) type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

fn form(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, filename, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{field}\"");
        if let Some(f) = filename {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(format!("{disposition}\r\n").as_bytes());
        if let Some(t) = content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(t: &TestStack, token: &str, content_type: &str, body: Vec<u8>) -> Value {
    let r = t
        .http
        .post(format!("{}/openapi/v1.0/message/batchupload", t.base_url()))
        .query(&[("access_token", token)])
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "POST message/batchupload");
    r.json().await.unwrap()
}

pub(crate) async fn upload_form(t: &TestStack, token: &str, parts: &[Part<'_>]) -> Value {
    upload(t, token, &format!("multipart/form-data; boundary={BOUNDARY}"), form(parts)).await
}

fn assert_refused(reply: &Value, validation_type: &str) {
    assert_eq!(reply["errcode"], 40002, "{reply}");
    assert_eq!(reply["invalid_param_list"][0]["field"], "files", "{reply}");
    assert_eq!(reply["invalid_param_list"][0]["validation_type"], validation_type, "{reply}");
}

fn store_on(t: &TestStack) -> DynamoStore {
    let bucket = match t.stack.physical("MessageFilesBucket") {
        Some(Physical::Bucket { name }) => name.clone(),
        other => panic!("MessageFilesBucket is not a provisioned bucket: {other:?}"),
    };
    let tables = Tables { conversation: t.stack.table_name("ConversationTable").unwrap(), ..Tables::default() };
    DynamoStore::new(t.dynamodb.clone(), tables).with_files(S3FileObjects::new(t.stack.clients().s3.clone(), bucket))
}

#[tokio::test]
async fn files_upload_as_a_form_and_download_from_their_uri_and_refusals_store_nothing() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    t.extension(&admin, "1000").await;
    let agent = t.token("1000", AGENT_PASSWORD).await;

    // Refusals first: nothing may be stored by any of them.
    assert_refused(&upload_form(&t, &agent, &[("note", None, None, b"just text")]).await, "required");
    let nameless = upload_form(&t, &agent, &[("files", None, Some("text/plain"), b"no name")]).await;
    assert_refused(&nameless, "format");
    // a good file and a nameless one: the whole form is refused, the good one is not stored
    let mixed = upload_form(
        &t,
        &agent,
        &[("files", Some("ok.txt"), Some("text/plain"), b"fine"), ("files", Some("/D:/dir/"), None, b"x")],
    )
    .await;
    assert_refused(&mixed, "format");
    assert!(mixed["invalid_param_list"][0]["message"].as_str().unwrap().contains("file 2"), "{mixed}");
    assert_refused(&upload(&t, &agent, "application/json", b"{\"files\": []}".to_vec()).await, "format");
    assert_eq!(t.items_with_prefix("ConversationTable", "FILE#").await, 0, "a refused upload stored a record");

    // Two files from an agent: one binary (every byte value) with a client path, one text file
    // whose type is guessed from its extension.
    let wav: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let csv = b"number,name\n+15005550101,Alice\n".to_vec();
    let reply = upload_form(
        &t,
        &agent,
        &[
            ("files", Some("/D:/projects/files/demo.wav"), Some("audio/wav"), &wav),
            ("files", Some("contacts.csv"), None, &csv),
        ],
    )
    .await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    assert_eq!(reply["errmsg"], "SUCCESS");
    let list = reply["list"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{reply}");
    let expected = [("demo.wav", "audio/wav", &wav), ("contacts.csv", "text/csv", &csv)];
    for (item, (name, ty, bytes)) in list.iter().zip(expected) {
        assert_eq!(item["name"], name, "{item}");
        assert_eq!(item["type"], ty, "{item}");
        assert_eq!(item["size"].as_u64().unwrap(), bytes.len() as u64, "{item}");
        let id = item["id"].as_str().unwrap();
        assert!(FileId::parse(id).is_ok(), "id {id}");
        let uri = item["uri"].as_str().unwrap();
        let download = t.http.get(uri).send().await.unwrap();
        assert_eq!(download.status(), 200, "GET {uri}");
        assert_eq!(download.bytes().await.unwrap().to_vec(), *bytes, "the bytes behind {uri}");
    }
    assert_ne!(list[0]["id"], list[1]["id"]);
    assert_eq!(t.items_with_prefix("ConversationTable", "FILE#").await, 2);

    // The records and bytes through the adapter the campaign code uses.
    let store = store_on(&t);
    let first = FileId::parse(list[0]["id"].as_str().unwrap()).unwrap();
    let record = store.file(&first).await.unwrap().expect("the uploaded file's record");
    assert_eq!((record.name.as_str(), record.size), ("demo.wav", wav.len() as u64));
    assert_eq!(record.expires_at, record.uploaded_at.plus(FILE_RETENTION));
    assert_eq!(store.file_bytes(&first).await.unwrap(), Some(wav.clone()));

    // An administrator API client may upload too.
    let by_admin = upload_form(&t, &admin, &[("files", Some("logo.png"), None, b"\x89PNG\r\n")]).await;
    assert_eq!(by_admin["errcode"], 0, "{by_admin}");
    assert_eq!(by_admin["list"][0]["type"], "image/png");
    assert_eq!(t.items_with_prefix("ConversationTable", "FILE#").await, 3);
}

#[tokio::test]
async fn a_stored_file_past_its_expiry_reads_as_missing_before_ttl_deletes_it() {
    let t = TestStack::start().await;
    let store = store_on(&t);
    let now = SystemClock.now();
    let old = StoredFile::new(
        FileId::from_random_bytes([0xa1; 16]),
        "old.txt".into(),
        "text/plain".into(),
        3,
        now.minus(FILE_RETENTION + Duration::from_secs(5)),
    );
    let fresh = StoredFile::new(FileId::from_random_bytes([0xb2; 16]), "new.txt".into(), "text/plain".into(), 3, now);
    store.put_file(&old, b"old".to_vec()).await.unwrap();
    store.put_file(&fresh, b"new".to_vec()).await.unwrap();
    // both records are there (TTL deletion is lazy) ...
    assert_eq!(t.items_with_prefix("ConversationTable", "FILE#").await, 2);
    // ... but the expired one reads as gone, record and bytes
    assert_eq!(store.file(&old.id).await.unwrap(), None);
    assert_eq!(store.file_bytes(&old.id).await.unwrap(), None);
    assert_eq!(store.file(&fresh.id).await.unwrap(), Some(fresh.clone()));
    assert_eq!(store.file_bytes(&fresh.id).await.unwrap(), Some(b"new".to_vec()));
    let url = store.download_url(&fresh).await.unwrap();
    assert_eq!(t.http.get(&url).send().await.unwrap().bytes().await.unwrap().to_vec(), b"new".to_vec());
}
