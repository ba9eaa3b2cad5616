//! `message_channel/whatsapp_template` (yeastar-openapi-messaging.md §3.2.8) and our
//! `message_channel/sync_whatsapp_template`: the request filters and the response shapes.

use serde_json::{Value, json};

use crate::ids::ChannelId;
use crate::openapi::{ApiError, Fields};
use crate::ports::{StoredTemplate, TemplateSync};

/// Largest `page_size`.
const MAX_PAGE_SIZE: i64 = 250;

/// A validated template listing query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateQuery {
    /// `omnichannel_id`.
    pub channel: ChannelId,
    /// `category`: any of these (upper case), empty for all.
    pub categories: Vec<String>,
    /// `language`: any of these, empty for all.
    pub languages: Vec<String>,
    /// `search_value`: part of the name, case-insensitive.
    pub search: Option<String>,
    /// 1-based page.
    pub page: usize,
    /// Page size.
    pub page_size: usize,
}

fn list(value: Option<String>) -> Vec<String> {
    value.map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

/// Parses the listing's query parameters.
pub fn parse_template_query(query: &Value) -> Result<TemplateQuery, ApiError> {
    let mut f = Fields::new(query);
    let channel =
        f.integer("omnichannel_id").and_then(|id| match u64::try_from(id).ok().and_then(|v| ChannelId::new(v).ok()) {
            Some(c) => Some(c),
            None => {
                f.error("omnichannel_id", "format", "must be a positive integer channel id");
                None
            }
        });
    let categories: Vec<String> = list(f.opt_string("category")).into_iter().map(|c| c.to_uppercase()).collect();
    for c in &categories {
        if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&c.as_str()) {
            f.error("category", "enum", format!("{c} is not MARKETING, UTILITY or AUTHENTICATION"));
        }
    }
    let languages = list(f.opt_string("language"));
    let search = f.opt_string("search_value").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let page = f.opt_integer_in("page", 1, i64::from(u32::MAX)).unwrap_or(1);
    let page_size = f.opt_integer_in("page_size", 1, MAX_PAGE_SIZE).unwrap_or(MAX_PAGE_SIZE);
    f.finish()?;
    let channel = channel.ok_or_else(|| ApiError::field("omnichannel_id", "required", "is required"))?;
    Ok(TemplateQuery {
        channel,
        categories,
        languages,
        search,
        page: usize::try_from(page).unwrap_or(1),
        page_size: usize::try_from(page_size).unwrap_or(1),
    })
}

impl TemplateQuery {
    /// Whether `t` passes the filters.
    pub fn matches(&self, t: &StoredTemplate) -> bool {
        let tpl = &t.template;
        (self.categories.is_empty() || self.categories.contains(&tpl.category.to_uppercase()))
            && (self.languages.is_empty() || self.languages.contains(&tpl.language))
            && self.search.as_ref().is_none_or(|s| tpl.name.to_lowercase().contains(&s.to_lowercase()))
    }
}

/// One `MSGTemplate_Info`.
pub fn template_json(t: &StoredTemplate) -> Value {
    let tpl = &t.template;
    json!({
        "id": t.id,
        "template_id": tpl.template_id,
        "name": tpl.name,
        "parameter_format": tpl.parameter_format.as_str(),
        "language": tpl.language,
        "category": tpl.category,
        "sub_category": tpl.sub_category.clone().unwrap_or_default(),
        "components_data": tpl.components.to_string(),
        "omnichannel_id": t.channel_id,
    })
}

/// The listing response fields: `total_number` and the page's `data`, name order.
pub fn template_page_json(query: &TemplateQuery, mut templates: Vec<StoredTemplate>) -> Value {
    templates.retain(|t| query.matches(t));
    templates.sort_by(|a, b| (&a.template.name, &a.template.language).cmp(&(&b.template.name, &b.template.language)));
    let total = templates.len();
    let data: Vec<Value> = templates
        .iter()
        .skip(query.page.saturating_sub(1).saturating_mul(query.page_size))
        .take(query.page_size)
        .map(template_json)
        .collect();
    json!({"total_number": total, "data": data})
}

/// Our sync endpoint's answer.
pub fn sync_json(sync: &TemplateSync) -> Value {
    json!({
        "synced_at": sync.synced_at.as_unix_seconds(),
        "total_number": sync.kept,
        "skipped": {
            "not_approved": sync.not_approved,
            "catalog": sync.catalog,
            "over_limit": sync.over_limit,
            "invalid": sync.invalid,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_docs_example_query_is_given_should_parse_it() {
        // yeastar-openapi-messaging.md §3.2.8
        let q = parse_template_query(&json!({"omnichannel_id": "1", "search_value": "store"})).unwrap();
        assert_eq!(q.channel.get(), 1);
        assert_eq!(q.search.as_deref(), Some("store"));
        assert_eq!((q.page, q.page_size), (1, 250));
        let q = parse_template_query(
            &json!({"omnichannel_id": 1, "category": "marketing, UTILITY", "language": "en,en_US"}),
        )
        .unwrap();
        assert_eq!(q.categories, vec!["MARKETING", "UTILITY"]);
        assert_eq!(q.languages, vec!["en", "en_US"]);
    }

    #[test]
    fn when_the_query_is_bad_should_name_each_field() {
        let err = parse_template_query(&json!({"category": "PROMO", "page_size": 0})).unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["omnichannel_id", "category", "page_size"]);
    }
}
