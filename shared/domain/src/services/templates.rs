//! Use case: synchronise a WhatsApp channel's message templates from Meta's Graph API (seed 001
//! L9051-9099): daily by the template-sync job, and on demand through the admin API.
//!
//! Reads every page of `GET {graph}/{waba_id}/message_templates` with the channel's access
//! token, keeps what [`select_for_sync`] keeps (approved, not catalog, fillable, at most 250),
//! and makes that the channel's whole set. A template keeps its id across syncs (matched by
//! Graph's id), so a client holding `id` from `message_channel/whatsapp_template` can still send
//! it. A failed read changes nothing.

use std::time::Duration;

use tracing::{info, warn};

use crate::channel::Channel;
use crate::credentials::Credentials;
use crate::ids::Sequence;
use crate::ports::{
    ChannelReader, Clock, ProviderHttp, Sequences, StoreError, StoredTemplate, TemplateStore, TemplateSync,
};
use crate::provider::{HttpMethod, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, path_segment};
use crate::whatsapp_template::{TemplateError, parse_template_page, select_for_sync};

/// A channel is synchronised again this long after its last sync.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Templates asked for per page.
const PAGE_SIZE: usize = 100;
/// Pages read at most (Meta lists every status; 250 kept from up to 2 000 listed).
const MAX_PAGES: usize = 20;
/// How long one Graph call may take.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(10);
/// The fields asked for.
const FIELDS: &str = "id,name,language,status,category,sub_category,parameter_format,components";

/// The ports a sync uses.
pub struct TemplateSyncPorts<'a, C, T, H, N, K> {
    /// Channels.
    pub channels: &'a C,
    /// Templates.
    pub store: &'a T,
    /// Graph API.
    pub provider: &'a H,
    /// Template ids.
    pub sequences: &'a N,
    /// Time.
    pub clock: &'a K,
    /// Where Graph is.
    pub endpoints: &'a ProviderEndpoints,
}

/// Why a sync did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Not a WhatsApp channel.
    #[error("message channel {0} is not a WhatsApp channel")]
    NotWhatsApp(u64),
    /// Graph refused or failed (nothing changed).
    #[error("the Graph API answered {status}: {detail}")]
    Graph {
        /// HTTP status (0: no answer).
        status: u16,
        /// What it said.
        detail: String,
    },
    /// Graph answered something that is not a template listing (nothing changed).
    #[error(transparent)]
    BadListing(#[from] TemplateError),
    /// A dependency failed (nothing changed, or a retried sync completes it).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Whether a later attempt may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::NotWhatsApp(_) | SyncError::BadListing(_) => false,
            SyncError::Graph { status, .. } => *status == 0 || *status == 429 || *status >= 500,
            SyncError::Store(e) => e.retryable,
        }
    }
}

fn listing_request(channel: &Channel, endpoints: &ProviderEndpoints, after: Option<&str>) -> Option<ProviderRequest> {
    let Credentials::WhatsApp(w) = &channel.credentials else { return None };
    let mut url = format!(
        "{}/{}/message_templates?fields={FIELDS}&limit={PAGE_SIZE}",
        endpoints.graph.trim_end_matches('/'),
        path_segment(&w.business_account_id)
    );
    if let Some(after) = after {
        url.push_str("&after=");
        url.push_str(&form_urlencoded::byte_serialize(after.as_bytes()).collect::<String>());
    }
    Some(ProviderRequest {
        method: HttpMethod::Get,
        url,
        auth: RequestAuth::Bearer(w.meta.access_token.clone()),
        headers: vec![("Accept".into(), "application/json".into())],
        body: None,
        timeout: GRAPH_TIMEOUT,
    })
}

/// Synchronises one channel now.
pub async fn sync_channel<C, T, H, N, K>(
    ports: &TemplateSyncPorts<'_, C, T, H, N, K>,
    channel: &Channel,
) -> Result<TemplateSync, SyncError>
where
    T: TemplateStore,
    H: ProviderHttp,
    N: Sequences,
    K: Clock,
{
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let request = listing_request(channel, ports.endpoints, after.as_deref())
            .ok_or(SyncError::NotWhatsApp(channel.id.get()))?;
        let body = match ports.provider.execute(&request).await {
            ProviderResponse::Http { status, body, .. } if (200..300).contains(&status) => body,
            ProviderResponse::Http { status, body, .. } => {
                let detail = String::from_utf8_lossy(&body).chars().take(300).collect();
                return Err(SyncError::Graph { status, detail });
            }
            ProviderResponse::NoResponse { reason } => return Err(SyncError::Graph { status: 0, detail: reason }),
        };
        let page = parse_template_page(&body)?;
        listed.extend(page.templates);
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let selection = select_for_sync(listed);
    for invalid in &selection.invalid {
        warn!(channel_id = %channel.id, template = invalid.name.as_str(), reason = invalid.reason.as_str(), "WhatsApp template skipped");
    }
    let existing = ports.store.templates(channel.id).await?;
    let mut kept = Vec::with_capacity(selection.templates.len());
    for template in selection.templates {
        let id = match existing.iter().find(|e| e.template.template_id == template.template_id) {
            Some(e) => e.id,
            None => ports.sequences.next_id(Sequence::Template).await?,
        };
        kept.push(StoredTemplate { id, channel_id: channel.id, template });
    }
    let sync = TemplateSync {
        synced_at: ports.clock.now(),
        kept: kept.len(),
        not_approved: selection.not_approved,
        catalog: selection.catalog,
        over_limit: selection.over_limit,
        invalid: selection.invalid.len(),
    };
    ports.store.replace_templates(channel.id, &existing, &kept, &sync).await?;
    info!(channel_id = %channel.id, kept = sync.kept, not_approved = sync.not_approved, catalog = sync.catalog, over_limit = sync.over_limit, invalid = sync.invalid, "WhatsApp templates synchronised");
    Ok(sync)
}

/// What a scheduled run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncRunReport {
    /// WhatsApp channels.
    pub channels: usize,
    /// Synchronised now.
    pub synced: usize,
    /// Failed (tried again next run).
    pub failed: usize,
}

/// Synchronises every WhatsApp channel never synchronised or last synchronised
/// [`SYNC_INTERVAL`] ago. A channel's failure does not stop the others; it is retried by the
/// next run. Only a store failure fails the run.
pub async fn sync_due<C, T, H, N, K>(ports: &TemplateSyncPorts<'_, C, T, H, N, K>) -> Result<SyncRunReport, StoreError>
where
    C: ChannelReader,
    T: TemplateStore,
    H: ProviderHttp,
    N: Sequences,
    K: Clock,
{
    let now = ports.clock.now();
    let mut report = SyncRunReport::default();
    for channel in ports.channels.channels().await? {
        if !matches!(channel.credentials, Credentials::WhatsApp(_)) {
            continue;
        }
        report.channels += 1;
        let due = match ports.store.template_sync(channel.id).await? {
            Some(last) => now.since(last.synced_at) >= SYNC_INTERVAL,
            None => true,
        };
        if !due {
            continue;
        }
        match sync_channel(ports, &channel).await {
            Ok(_) => report.synced += 1,
            Err(SyncError::Store(e)) => return Err(e),
            Err(error) => {
                warn!(channel_id = %channel.id, error = %error, "WhatsApp template sync failed; the next run tries again");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}
