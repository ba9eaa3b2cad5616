//! Chat-log exports on S3 (and their job queue on SQS): a multipart upload as the archive's
//! [`PartSink`], presigned GET links for downloads.
//!
//! The client uses path-style addressing (`force_path_style`), which works against S3 and against
//! the emulator the local stack points `AWS_ENDPOINT_URL` at.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use domain::chat_log::ExportRequest;
use domain::ports::{DownloadLinks, ExportQueue, ExportStorage, StoreError};

use crate::export::{PartSink, ZipCsvArchive};

/// An S3 client with path-style addressing.
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

pub(crate) fn s3_error<E>(
    operation: &'static str,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ConstructionFailure(_) => StoreError::permanent(operation, err),
        SdkError::ServiceError(ref ctx) if ctx.raw().status().is_client_error() => {
            StoreError::permanent(operation, err)
        }
        _ => StoreError::retryable(operation, err),
    }
}

/// The export bucket.
#[derive(Debug, Clone)]
pub struct S3Exports {
    client: Client,
    bucket: String,
}

impl S3Exports {
    /// Exports in `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

/// One multipart upload.
#[derive(Debug)]
pub struct S3Multipart {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
}

impl PartSink for S3Multipart {
    async fn upload_part(&mut self, number: i32, bytes: Vec<u8>) -> Result<(), StoreError> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| s3_error("upload export part", e))?;
        self.parts.push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag).build());
        Ok(())
    }

    async fn complete(&mut self) -> Result<(), StoreError> {
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(self.parts.clone())).build())
            .send()
            .await
            .map_err(|e| s3_error("complete export upload", e))?;
        Ok(())
    }

    async fn abort(&mut self) {
        let result = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await;
        if let Err(e) = result {
            // the bucket's lifecycle rule removes abandoned uploads
            tracing::warn!(key = %self.key, error = %e, "could not abort an export upload");
        }
    }
}

impl ExportStorage for S3Exports {
    type Archive = ZipCsvArchive<S3Multipart>;

    async fn create_archive(&self, object_key: &str) -> Result<Self::Archive, StoreError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(object_key)
            .content_type("application/zip")
            .content_disposition("attachment; filename=\"chat_logs.zip\"")
            .send()
            .await
            .map_err(|e| s3_error("start export upload", e))?;
        let upload_id =
            out.upload_id.ok_or_else(|| StoreError::permanent("start export upload", "no upload id returned"))?;
        Ok(ZipCsvArchive::new(S3Multipart {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: object_key.to_owned(),
            upload_id,
            parts: Vec::new(),
        }))
    }
}

impl DownloadLinks for S3Exports {
    async fn download_url(&self, object_key: &str, expires_in: Duration) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(expires_in).map_err(|e| StoreError::permanent("sign download", e))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(object_key)
            .presigned(config)
            .await
            .map_err(|e| s3_error("sign download", e))?;
        Ok(request.uri().to_owned())
    }
}

/// The export function's queue.
#[derive(Debug, Clone)]
pub struct SqsExportQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsExportQueue {
    /// The queue at `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

impl ExportQueue for SqsExportQueue {
    async fn enqueue_export(&self, request: &ExportRequest) -> Result<(), StoreError> {
        let body = serde_json::to_string(request).map_err(|e| StoreError::permanent("encode export request", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| StoreError::retryable("enqueue export", e))?;
        Ok(())
    }
}
