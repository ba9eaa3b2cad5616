//! `message/batchupload` (Yeastar §3.6.4): files for message sessions and campaigns, as
//! multipart/form-data with one `files` part per file. The form is read here; the checks (file
//! names, the 100 MB total) and the storing are `domain::services::files`.

use adapters::system::OsRandom;
use bytes::Bytes;
use domain::files::{MAX_UPLOAD_TOTAL_BYTES, UPLOAD_FIELD, UploadPart, UploadRefusal};
use domain::openapi::{ApiError, success};
use domain::ports::{Clock, FileStore};
use domain::services::files::{UploadError, upload_files};
use lambda_support::openapi::{ApiRequest, Failure};
use serde_json::{Value, json};

/// Room for the form's own framing on top of the files' limit.
const FRAMING_ALLOWANCE: u64 = 1024 * 1024;

fn refused(refusal: &UploadRefusal) -> Failure {
    ApiError::field(UPLOAD_FIELD, refusal.validation_type(), refusal.to_string()).into()
}

/// The parts of a multipart/form-data body.
pub async fn read_form(req: &ApiRequest) -> Result<Vec<UploadPart>, UploadRefusal> {
    let content_type = req.headers.get("content-type").unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| UploadRefusal::NotMultipart("Content-Type is not multipart/form-data with a boundary".into()))?;
    let body = Bytes::from(req.body.clone());
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let limits = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(MAX_UPLOAD_TOTAL_BYTES + FRAMING_ALLOWANCE));
    let mut form = multer::Multipart::with_constraints(stream, boundary, limits);
    let mut parts = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(parts),
            Err(e) => return Err(form_error(e)),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let bytes = field.bytes().await.map_err(form_error)?;
        parts.push(UploadPart { field: name, file_name, content_type, bytes: bytes.to_vec() });
    }
}

fn form_error(e: multer::Error) -> UploadRefusal {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => UploadRefusal::TooLarge,
        other => UploadRefusal::NotMultipart(other.to_string()),
    }
}

/// `POST message/batchupload`: stores every file (or none) and lists them with their links.
pub async fn batchupload<F: FileStore, K: Clock>(files: &F, clock: &K, req: &ApiRequest) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let parts = read_form(req).await.map_err(|r| refused(&r))?;
    let uploaded = match upload_files(files, &OsRandom, clock, parts).await {
        Ok(uploaded) => uploaded,
        Err(UploadError::Refused(r)) => return Err(refused(&r)),
        Err(UploadError::Store(e)) => return Err(Failure::Store(e)),
    };
    let list: Vec<Value> = uploaded
        .iter()
        .map(|u| {
            json!({
                "id": u.file.id.as_str(),
                "name": u.file.name,
                "uri": u.url,
                "type": u.file.content_type,
                "size": u.file.size,
            })
        })
        .collect();
    Ok(success(json!({"list": list})))
}

#[cfg(test)]
mod tests {
    use adapters::memory::InMemoryStore;
    use adapters::system::SystemClock;
    use domain::webhook::Headers;

    use super::*;

    const BOUNDARY: &str = "XyZ123";

    fn request(content_type: &str, body: &[u8]) -> ApiRequest {
        ApiRequest {
            method: "POST".into(),
            path: "/openapi/v1.0/message/batchupload".into(),
            action: "batchupload".into(),
            headers: Headers::from_pairs([("Content-Type", content_type)]),
            body: body.to_vec(),
            ..ApiRequest::default()
        }
    }

    /// One form part: `(field, filename, content type, bytes)`.
    type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

    fn form(parts: &[Part<'_>]) -> ApiRequest {
        let mut body = Vec::new();
        for (field, filename, ctype, bytes) in parts {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"").as_bytes(),
            );
            if let Some(f) = filename {
                body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            if let Some(t) = ctype {
                body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        request(&format!("multipart/form-data; boundary={BOUNDARY}"), &body)
    }

    fn refusal(result: Result<Value, Failure>) -> (String, String) {
        match result {
            Err(Failure::Api(e)) => {
                let json = e.to_json();
                assert_eq!(json["errcode"], 40002, "{json}");
                let item = &json["invalid_param_list"][0];
                (
                    item["field"].as_str().unwrap_or_default().into(),
                    item["validation_type"].as_str().unwrap_or_default().into(),
                )
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn repeated_files_parts_are_read_in_order_with_their_names_and_types() {
        let bin: Vec<u8> = (0..=255u8).collect();
        let req = form(&[
            ("files", Some("/D:/projects/files/demo.wav"), Some("audio/wav"), &bin),
            ("files", Some("demo.jpg"), None, b"jpeg"),
        ]);
        let parts = read_form(&req).await.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].file_name.as_deref(), Some("/D:/projects/files/demo.wav"));
        assert_eq!(parts[0].content_type.as_deref(), Some("audio/wav"));
        assert_eq!(parts[0].bytes, bin);
        assert_eq!((parts[1].field.as_str(), parts[1].content_type.as_deref()), ("files", None));

        let store = InMemoryStore::new();
        let reply = batchupload(&store, &SystemClock, &req).await.unwrap();
        assert_eq!(reply["errcode"], 0);
        let list = reply["list"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["name"], "demo.wav");
        assert_eq!(list[0]["type"], "audio/wav");
        assert_eq!(list[0]["size"], 256);
        assert_eq!(list[1]["type"], "image/jpeg");
        assert_eq!(list[0]["uri"], format!("memory://files/{}", list[0]["id"].as_str().unwrap()));
        assert_eq!(store.file_count(), 2);
    }

    #[tokio::test]
    async fn refusals_name_the_files_field_and_store_nothing() {
        let store = InMemoryStore::new();
        let none = form(&[("other", None, None, b"text")]);
        assert_eq!(refusal(batchupload(&store, &SystemClock, &none).await), ("files".into(), "required".into()));
        let nameless = form(&[("files", Some("a.txt"), None, b"a"), ("files", None, None, b"b")]);
        assert_eq!(refusal(batchupload(&store, &SystemClock, &nameless).await), ("files".into(), "format".into()));
        let json = request("application/json", b"{}");
        assert_eq!(refusal(batchupload(&store, &SystemClock, &json).await), ("files".into(), "format".into()));
        let broken = request(&format!("multipart/form-data; boundary={BOUNDARY}"), b"--XyZ123\r\ngarbage");
        assert_eq!(refusal(batchupload(&store, &SystemClock, &broken).await), ("files".into(), "format".into()));
        assert_eq!(store.file_count(), 0);

        let mut get = form(&[("files", Some("a.txt"), None, b"a")]);
        get.method = "GET".into();
        assert!(
            matches!(batchupload(&store, &SystemClock, &get).await, Err(Failure::Api(e)) if e.code == domain::openapi::ErrCode::InterfaceNotExisted)
        );
    }
}
