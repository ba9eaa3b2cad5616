//! SES (v2 `SendEmail`) implementation of [`Mailer`]: plain-text mail from one configured sender
//! address. Without a sender address configured, mail is not sent (the events still are).

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use domain::ports::{Mailer, StoreError};
use tracing::warn;

/// SES errors a retry cannot fix.
const PERMANENT: &[&str] = &[
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "BadRequestException",
    "NotFoundException",
    "AccountSuspendedException",
    "SendingPausedException",
];

/// Sends through SES from `from`.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    from: Option<String>,
}

impl SesMailer {
    /// A mailer sending as `from` (`None` or empty: mail is skipped with a warning).
    pub fn new(client: Client, from: Option<String>) -> Self {
        Self { client, from: from.filter(|f| !f.trim().is_empty()) }
    }
}

fn content(text: &str) -> Result<Content, StoreError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| StoreError::permanent("build e-mail", e))
}

impl Mailer for SesMailer {
    async fn send_mail(&self, to: &[String], subject: &str, body: &str) -> Result<(), StoreError> {
        let Some(from) = &self.from else {
            warn!("no sender address configured (SLA_MAIL_FROM): e-mail skipped");
            return Ok(());
        };
        let message =
            Message::builder().subject(content(subject)?).body(Body::builder().text(content(body)?).build()).build();
        let result = self
            .client
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().set_to_addresses(Some(to.to_vec())).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                let permanent = err.code().is_some_and(|c| PERMANENT.contains(&c));
                let text = DisplayErrorContext(&err).to_string();
                if permanent {
                    Err(StoreError::permanent("send e-mail", text))
                } else {
                    Err(StoreError::retryable("send e-mail", text))
                }
            }
        }
    }
}
