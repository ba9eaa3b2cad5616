//! WhatsApp message templates: which of a WhatsApp Business Account's templates a channel keeps,
//! and how a client's filled-in template becomes the `template` object of a Cloud API send. Pure:
//! the Graph call, storage and the send itself live outside the domain.
//!
//! # Synchronisation
//!
//! Graph lists a WABA's templates with `GET {graph}/{waba_id}/message_templates`, one page at a
//! time: `{"data":[{id, name, language, status, category, sub_category, parameter_format,
//! components}], "paging":{"cursors":{"before","after"},"next"}}`. [`parse_template_page`] reads
//! one page; the caller asks for the next one with `after=` [`TemplatePage::next_after`] until it
//! is `None` (Graph sends `paging.next` only while more remain). [`select_for_sync`] then applies
//! the seed's rules (seed 001 L9075-9077, `seed001-requirements.md` §1.6):
//!
//! - only **APPROVED** templates (WhatsApp Manager calls them "Active") are kept;
//! - **catalog** templates are excluded: a MARKETING template with a `CATALOG` or `MPM` button;
//! - at most [`MAX_TEMPLATES_PER_CHANNEL`] (250) per channel, the first by (name, language);
//! - a template whose variables we cannot fill is excluded and reported as invalid (below).
//!
//! # Variables
//!
//! Placeholders are read from the HEADER text, the BODY text and the `url` of URL buttons:
//! `{{1}}` (positional) or `{{order_id}}` (named: a lowercase letter, then lowercase letters,
//! digits and underscores; the seed asks for letters and digits only, Meta also allows `_`).
//! Spaces inside the braces are tolerated (`{{ 1 }}`). `{{}}`, `{{Bad-Name}}`, `{{0}}`, an
//! unclosed `{{`, a header and body mixing `{{1}}` with `{{name}}`, or a mix that contradicts the
//! declared `parameter_format` make the template invalid. A `COPY_CODE` button adds one variable
//! named `coupon_code` (Cloud API sends its code as a `coupon_code` parameter). An authentication
//! `OTP` button needs no value of its own: the Cloud API wants the code again on that button, so
//! it is copied from the body's first variable. Templates with components we cannot fill
//! (`CAROUSEL`, `LIMITED_TIME_OFFER`, a `PRODUCT` or `GIF` header, ...) are reported invalid too.
//!
//! # Sending
//!
//! A client sends Yeastar's template message object as a JSON string in `whatsapp_msg_param`
//! (`message/send`) or `msg_param` (campaigns) (`yeastar-openapi-messaging.md` §3.2.8):
//! `{"id", "template_id", "name", "language":{"code"}, "parameter_format", "components":[{"type":
//! "HEADER"|"BODY"|"BUTTONS", "parameters":[..]}]}`, the parameters following the Cloud API's
//! shapes. [`TemplateMessage::parse`] reads it, [`TemplateMessage::check_against`] checks it
//! against the synchronised template (same name and language, one non-empty value per variable,
//! nothing extra, an https link of the right kind for a media header), and the resulting
//! [`FilledTemplate`] gives the Cloud API `template` object and the text kept in the message
//! history.
//!
//! Yeastar's page truncates the per-component shapes, so `BUTTONS` is read leniently: its list
//! (`buttons` or `parameters`) holds one entry per button, `{"index", "sub_type", "parameters"}`
//! (or the value inline: `{"index":0, "type":"url", "text":".."}`); Cloud-API-style components
//! `{"type":"button", "sub_type":"url", "index":"0", "parameters":[..]}` are accepted too.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The most templates one channel keeps (seed 001 L9076).
pub const MAX_TEMPLATES_PER_CHANNEL: usize = 250;

/// The request field of every error about a client's template message.
const MESSAGE_FIELD: &str = "whatsapp_msg_param";

/// The Graph edge named by errors about a listing page (not a client's request).
const LISTING_FIELD: &str = "message_templates";

// --- errors ----------------------------------------------------------------------------------

/// Why a template listing or a template message was refused. Messages say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Graph's `message_templates` answer is not a page of templates.
    #[error("the message_templates answer is not a page of templates: {0}")]
    InvalidTemplatePage(String),
    /// A template of the listing lacks a required field.
    #[error("template data[{index}] of the message_templates answer has no `{field}`")]
    MissingTemplateField {
        /// Its position in `data`.
        index: usize,
        /// `id`, `name`, `language` or `status`.
        field: &'static str,
    },
    /// `whatsapp_msg_param` is not JSON.
    #[error("whatsapp_msg_param is not valid JSON: {0}")]
    InvalidJson(String),
    /// `whatsapp_msg_param` is JSON but not a template message.
    #[error("whatsapp_msg_param is not a valid template message: {0}")]
    InvalidMessage(String),
    /// The named template is not among the channel's synchronised templates.
    #[error(
        "template {name} ({language}) is not synchronised on this channel: pick one listed by \
         message_channel/whatsapp_template, or refresh the channel's templates"
    )]
    NotSynchronised {
        /// The template name given.
        name: String,
        /// The language code given.
        language: String,
    },
    /// The message names a different template, language or format than the stored template.
    #[error("whatsapp_msg_param gives {field} {given:?} but the synchronised template has {stored:?}")]
    TemplateMismatch {
        /// `name`, `language`, `template_id` or `parameter_format`.
        field: &'static str,
        /// What the message says.
        given: String,
        /// What the stored template says.
        stored: String,
    },
    /// The stored template cannot be filled (its components changed or are not supported).
    #[error("template {name} cannot be sent: {reason}; refresh the channel's templates")]
    UnusableTemplate {
        /// The template name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A variable has no value, or an empty one.
    #[error("variable {placeholder} of {component} has no value")]
    MissingValue {
        /// Where the variable is.
        component: VariableComponent,
        /// `{{2}}`, `{{first_name}}`.
        placeholder: String,
    },
    /// A value has no variable to fill.
    #[error("{component} has no variable for {value}; remove it")]
    ExtraValue {
        /// Where the value was given.
        component: VariableComponent,
        /// `value #3` (by position) or `{{coupon}}` (by name).
        value: String,
    },
    /// Two values for one variable.
    #[error("variable {placeholder} of {component} has two values")]
    DuplicateValue {
        /// Where the variable is.
        component: VariableComponent,
        /// The variable.
        placeholder: String,
    },
    /// A value of a named-variable template carries no `parameter_name`.
    #[error("value #{position} of {component} needs a parameter_name: template {template} uses named variables")]
    MissingParameterName {
        /// Where the value was given.
        component: VariableComponent,
        /// Its 1-based position.
        position: usize,
        /// The template name.
        template: String,
    },
    /// A value of the wrong kind (e.g. text for an image header).
    #[error("{component} takes {expected}, not {got}")]
    WrongParameterType {
        /// Where the value was given.
        component: VariableComponent,
        /// What the template needs (`an image parameter`).
        expected: String,
        /// What was given (`a text parameter`).
        got: String,
    },
    /// A media or location header has no parameter, or a media parameter has no link.
    #[error(
        "template {template} has {} header: give HEADER the parameter {}",
        with_article(.kind),
        media_example(.kind)
    )]
    MissingHeaderMedia {
        /// The template name.
        template: String,
        /// What the header shows.
        kind: HeaderMedia,
    },
    /// A media header link that is not an https URL.
    #[error("the header {kind} link must be an https URL, got {link:?}")]
    InsecureMediaLink {
        /// What the header shows.
        kind: HeaderMedia,
        /// The link given.
        link: String,
    },
    /// A location header without a usable latitude and longitude.
    #[error("the header location needs a latitude (-90 to 90) and a longitude (-180 to 180), got {0}")]
    InvalidLocation(String),
}

impl TemplateError {
    /// The field the error concerns: `whatsapp_msg_param` for a client's template message,
    /// `message_templates` for Graph's listing (not a client's request).
    pub fn field(&self) -> &'static str {
        match self {
            TemplateError::InvalidTemplatePage(_) | TemplateError::MissingTemplateField { .. } => LISTING_FIELD,
            _ => MESSAGE_FIELD,
        }
    }
}

fn with_article(kind: &HeaderMedia) -> String {
    match kind {
        HeaderMedia::Image => "an image".into(),
        other => format!("a {other}"),
    }
}

fn media_example(kind: &HeaderMedia) -> String {
    match kind {
        HeaderMedia::Location => {
            r#"{"type":"location","location":{"latitude":"..","longitude":"..","name":"..","address":".."}}"#.into()
        }
        media => format!(r#"{{"type":"{media}","{media}":{{"link":"https://.."}}}}"#),
    }
}

// --- shared value types ----------------------------------------------------------------------

/// How a template's variables are written (Graph `parameter_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParameterFormat {
    /// `{{1}}`, `{{2}}`: values are given in order.
    Positional,
    /// `{{first_name}}`: values carry a `parameter_name`.
    Named,
}

impl ParameterFormat {
    /// `POSITIONAL` or `NAMED` (Graph's and Yeastar's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterFormat::Positional => "POSITIONAL",
            ParameterFormat::Named => "NAMED",
        }
    }

    /// From [`ParameterFormat::as_str`], in any case.
    pub fn parse(value: &str) -> Option<Self> {
        [ParameterFormat::Positional, ParameterFormat::Named]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(value))
    }
}

/// What a header shows when it needs a media or location parameter at send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HeaderMedia {
    /// An image (`link`).
    Image,
    /// A video (`link`).
    Video,
    /// A document (`link`, optional `filename`).
    Document,
    /// A map pin (`latitude`, `longitude`, optional `name`, `address`).
    Location,
}

impl HeaderMedia {
    /// The header `format` Graph gives (`IMAGE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderMedia::Image => "IMAGE",
            HeaderMedia::Video => "VIDEO",
            HeaderMedia::Document => "DOCUMENT",
            HeaderMedia::Location => "LOCATION",
        }
    }

    /// The Cloud API parameter type (`image`, ...).
    pub fn parameter_type(self) -> &'static str {
        match self {
            HeaderMedia::Image => "image",
            HeaderMedia::Video => "video",
            HeaderMedia::Document => "document",
            HeaderMedia::Location => "location",
        }
    }

    fn from_format(format: &str) -> Option<Self> {
        [HeaderMedia::Image, HeaderMedia::Video, HeaderMedia::Document, HeaderMedia::Location]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(format))
    }
}

impl fmt::Display for HeaderMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.parameter_type())
    }
}

/// Where a variable sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VariableComponent {
    /// The header text.
    Header,
    /// The body text.
    Body,
    /// A button (URL suffix, coupon code).
    Button {
        /// The button's position in the template's `buttons` (Cloud API `index`).
        index: usize,
    },
}

impl fmt::Display for VariableComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VariableComponent::Header => f.write_str("the header"),
            VariableComponent::Body => f.write_str("the body"),
            VariableComponent::Button { index } => write!(f, "button {index}"),
        }
    }
}

/// One value a sender must give.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TemplateVariable {
    /// Where it is.
    pub component: VariableComponent,
    /// `1` (positional), `order_id` (named), `coupon_code` (a COPY_CODE button).
    pub name: String,
}

impl TemplateVariable {
    /// `{{name}}`, as written in the template.
    pub fn placeholder(&self) -> String {
        placeholder(&self.name)
    }
}

fn placeholder(name: &str) -> String {
    format!("{{{{{name}}}}}")
}

// --- Graph listing ---------------------------------------------------------------------------

/// One template as Graph lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTemplate {
    /// Graph's template id (a numeric string).
    pub id: String,
    /// Template name.
    pub name: String,
    /// Language and locale code (`en_US`).
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, ...
    pub status: String,
    /// `MARKETING`, `UTILITY`, `AUTHENTICATION`.
    pub category: Option<String>,
    /// Graph's `sub_category`, if any.
    pub sub_category: Option<String>,
    /// `POSITIONAL` or `NAMED`, as Graph gave it (older templates have none: positional).
    pub parameter_format: Option<String>,
    /// `components`, as Graph gave it (an empty array when absent).
    pub components: Value,
}

/// One page of Graph's listing.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatePage {
    /// The templates of this page, in Graph's order.
    pub templates: Vec<RemoteTemplate>,
    /// The `after` cursor of the next page; `None` on the last page.
    pub next_after: Option<String>,
}

/// Parses one page of `GET {graph}/{waba_id}/message_templates`. Unknown fields are ignored;
/// `id`, `name`, `language` and `status` are required. `next_after` is `paging.cursors.after`
/// when `paging.next` is present.
pub fn parse_template_page(body: &[u8]) -> Result<TemplatePage, TemplateError> {
    let page: Value =
        serde_json::from_slice(body).map_err(|e| TemplateError::InvalidTemplatePage(format!("not JSON ({e})")))?;
    if let Some(error) = page.get("error") {
        let message = error.get("message").and_then(Value::as_str).unwrap_or("no message");
        let code = error.get("code").map_or_else(|| "none".to_owned(), Value::to_string);
        return Err(TemplateError::InvalidTemplatePage(format!("Graph answered an error: {message} (code {code})")));
    }
    let Some(data) = page.get("data").and_then(Value::as_array) else {
        return Err(TemplateError::InvalidTemplatePage("`data` is missing or not an array".into()));
    };
    let templates = data.iter().enumerate().map(|(i, t)| remote_template(i, t)).collect::<Result<Vec<_>, _>>()?;
    let paging = page.get("paging");
    let has_next = paging.and_then(|p| p.get("next")).and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let next_after = if has_next {
        let after = paging
            .and_then(|p| p.get("cursors"))
            .and_then(|c| c.get("after"))
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty());
        match after {
            Some(after) => Some(after.to_owned()),
            None => {
                return Err(TemplateError::InvalidTemplatePage(
                    "`paging.next` is present without `paging.cursors.after`".into(),
                ));
            }
        }
    } else {
        None
    };
    Ok(TemplatePage { templates, next_after })
}

fn remote_template(index: usize, template: &Value) -> Result<RemoteTemplate, TemplateError> {
    let Some(object) = template.as_object() else {
        return Err(TemplateError::InvalidTemplatePage(format!("data[{index}] is not an object")));
    };
    let text = |field: &str| object.get(field).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let required = |field: &'static str| text(field).ok_or(TemplateError::MissingTemplateField { index, field });
    let id = match object.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        _ => required("id")?,
    };
    Ok(RemoteTemplate {
        id,
        name: required("name")?,
        language: required("language")?,
        status: required("status")?,
        category: text("category"),
        sub_category: text("sub_category"),
        parameter_format: text("parameter_format"),
        components: object.get("components").cloned().unwrap_or_else(|| Value::Array(Vec::new())),
    })
}

// --- selection -------------------------------------------------------------------------------

/// A template a channel keeps, with what sending it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatsAppTemplate {
    /// Graph's template id (Yeastar `template_id`).
    pub template_id: String,
    /// Template name.
    pub name: String,
    /// Language and locale code.
    pub language: String,
    /// `MARKETING`, `UTILITY`, `AUTHENTICATION` (empty when Graph gave none).
    pub category: String,
    /// Graph's `sub_category`, if any.
    pub sub_category: Option<String>,
    /// How its variables are written.
    pub parameter_format: ParameterFormat,
    /// `components` as Graph gave it (Yeastar's `components_data` is this, serialised). The
    /// source of truth for the texts, buttons and variables.
    pub components: Value,
    /// The values a sender must give, header first, then body, then buttons by index.
    pub variables: Vec<TemplateVariable>,
    /// The header's media or location parameter, when it needs one.
    pub header_media: Option<HeaderMedia>,
}

/// A listed template that cannot be kept because we could not fill it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTemplate {
    /// Graph's template id.
    pub template_id: String,
    /// Template name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// Why (`body: {{Bad-Name}} is not a valid variable ...`).
    pub reason: String,
}

/// What [`select_for_sync`] kept and what it left out, and why.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncSelection {
    /// The templates to keep, by (name, language), at most [`MAX_TEMPLATES_PER_CHANNEL`].
    pub templates: Vec<WhatsAppTemplate>,
    /// Left out: not APPROVED.
    pub not_approved: usize,
    /// Left out: marketing templates of the catalog type.
    pub catalog: usize,
    /// Left out: beyond [`MAX_TEMPLATES_PER_CHANNEL`].
    pub over_limit: usize,
    /// Left out: variables we cannot fill, by (name, language).
    pub invalid: Vec<InvalidTemplate>,
}

/// Applies the channel's template rules (module docs) to every listed template.
pub fn select_for_sync(remote: Vec<RemoteTemplate>) -> SyncSelection {
    let mut selection = SyncSelection::default();
    for template in remote {
        if !template.status.eq_ignore_ascii_case("APPROVED") {
            selection.not_approved += 1;
            continue;
        }
        let marketing = template.category.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("MARKETING"));
        if marketing && has_catalog_button(&template.components) {
            selection.catalog += 1;
            continue;
        }
        let analysed = match template.parameter_format.as_deref() {
            None => layout(&template.components, None),
            Some(declared) => match ParameterFormat::parse(declared) {
                Some(format) => layout(&template.components, Some(format)),
                None => Err(format!("parameter_format {declared:?} is neither POSITIONAL nor NAMED")),
            },
        };
        match analysed {
            Ok(layout) => selection.templates.push(WhatsAppTemplate {
                template_id: template.id,
                name: template.name,
                language: template.language,
                category: template.category.unwrap_or_default(),
                sub_category: template.sub_category,
                parameter_format: layout.format,
                components: template.components,
                variables: layout.variables,
                header_media: match layout.header {
                    Some(Header::Media(media)) => Some(media),
                    _ => None,
                },
            }),
            Err(reason) => selection.invalid.push(InvalidTemplate {
                template_id: template.id,
                name: template.name,
                language: template.language,
                reason,
            }),
        }
    }
    selection
        .templates
        .sort_by(|a, b| (&a.name, &a.language, &a.template_id).cmp(&(&b.name, &b.language, &b.template_id)));
    selection.invalid.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    selection.over_limit = selection.templates.len().saturating_sub(MAX_TEMPLATES_PER_CHANNEL);
    selection.templates.truncate(MAX_TEMPLATES_PER_CHANNEL);
    selection
}

fn has_catalog_button(components: &Value) -> bool {
    components.as_array().into_iter().flatten().filter(|c| kind_of(c) == "BUTTONS").any(|c| {
        c.get("buttons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|b| matches!(kind_of(b).as_str(), "CATALOG" | "MPM"))
    })
}

/// `type` in upper case (empty when absent).
fn kind_of(value: &Value) -> String {
    value.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase()
}

// --- template structure ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Header {
    Text(String),
    Media(HeaderMedia),
}

#[derive(Debug, Clone, PartialEq)]
struct Button {
    /// `URL`, `QUICK_REPLY`, `COPY_CODE`, `OTP`, ... (upper case).
    kind: String,
}

/// What a template's components say, once checked.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    header: Option<Header>,
    body: String,
    footer: Option<String>,
    buttons: Vec<Button>,
    format: ParameterFormat,
    variables: Vec<TemplateVariable>,
}

impl Layout {
    fn variables_of(&self, component: VariableComponent) -> Vec<&TemplateVariable> {
        self.variables.iter().filter(|v| v.component == component).collect()
    }
}

/// Reads a template's components; `Err` says why it cannot be filled.
fn layout(components: &Value, declared: Option<ParameterFormat>) -> Result<Layout, String> {
    let Some(list) = components.as_array() else {
        return Err("`components` is not an array".into());
    };
    let mut header = None;
    let mut body = None;
    let mut footer = None;
    let mut buttons = Vec::new();
    for component in list {
        let text = component.get("text").and_then(Value::as_str).map(str::to_owned);
        match kind_of(component).as_str() {
            "HEADER" if header.is_some() => return Err("two HEADER components".into()),
            "HEADER" => {
                let format = component.get("format").and_then(Value::as_str).unwrap_or("TEXT");
                header = Some(if format.eq_ignore_ascii_case("TEXT") {
                    Header::Text(text.unwrap_or_default())
                } else {
                    Header::Media(
                        HeaderMedia::from_format(format)
                            .ok_or_else(|| format!("header format {format} is not supported"))?,
                    )
                });
            }
            "BODY" if body.is_some() => return Err("two BODY components".into()),
            "BODY" => body = Some(text.ok_or("the BODY has no text")?),
            "FOOTER" => footer = text,
            "BUTTONS" => {
                let list = component.get("buttons").and_then(Value::as_array).ok_or("BUTTONS has no `buttons` list")?;
                buttons.extend(list.iter().map(|b| (Button { kind: kind_of(b) }, b)));
            }
            other => return Err(format!("component {other:?} is not supported")),
        }
    }
    let body = body.ok_or("there is no BODY")?;

    let header_tokens = match &header {
        Some(Header::Text(text)) => tokens(text).map_err(|e| format!("header: {e}"))?,
        _ => Vec::new(),
    };
    let body_tokens = tokens(&body).map_err(|e| format!("body: {e}"))?;
    let text_tokens = || header_tokens.iter().chain(&body_tokens).map(|t| &t.placeholder);
    let named = text_tokens().any(|p| matches!(p, Placeholder::Named(_)));
    let positional = text_tokens().any(|p| matches!(p, Placeholder::Positional(_)));
    let format = match (declared, named, positional) {
        (_, true, true) => return Err("the header and body mix positional ({{1}}) and named variables".into()),
        (Some(ParameterFormat::Positional), true, _) => {
            return Err("parameter_format is POSITIONAL but the variables are named".into());
        }
        (Some(ParameterFormat::Named), _, true) => {
            return Err("parameter_format is NAMED but the variables are positional ({{1}})".into());
        }
        (Some(format), _, _) => format,
        (None, true, _) => ParameterFormat::Named,
        (None, false, _) => ParameterFormat::Positional,
    };

    let mut variables = Vec::new();
    variables.extend(
        names(&header_tokens).into_iter().map(|name| TemplateVariable { component: VariableComponent::Header, name }),
    );
    variables.extend(
        names(&body_tokens).into_iter().map(|name| TemplateVariable { component: VariableComponent::Body, name }),
    );
    let mut kept_buttons = Vec::new();
    for (index, (button, raw)) in buttons.into_iter().enumerate() {
        let component = VariableComponent::Button { index };
        match button.kind.as_str() {
            "URL" => {
                let url = raw.get("url").and_then(Value::as_str).unwrap_or_default();
                let url_tokens = tokens(url).map_err(|e| format!("button {index} url: {e}"))?;
                variables.extend(names(&url_tokens).into_iter().map(|name| TemplateVariable { component, name }));
            }
            "COPY_CODE" => variables.push(TemplateVariable { component, name: "coupon_code".into() }),
            _ => {}
        }
        kept_buttons.push(button);
    }
    Ok(Layout { header, body, footer, buttons: kept_buttons, format, variables })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Placeholder {
    Positional(u32),
    Named(String),
}

impl Placeholder {
    fn name(&self) -> String {
        match self {
            Placeholder::Positional(n) => n.to_string(),
            Placeholder::Named(name) => name.clone(),
        }
    }
}

/// A placeholder and where it is in its text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    start: usize,
    end: usize,
    placeholder: Placeholder,
}

/// Every `{{..}}` of `text`, in order.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("{{") {
        let start = from + offset;
        let Some(close) = text[start + 2..].find("}}") else {
            let opening: String = text[start..].chars().take(24).collect();
            return Err(format!("{opening:?} opens a variable that is never closed"));
        };
        let inner = &text[start + 2..start + 2 + close];
        let end = start + 2 + close + 2;
        found.push(Token { start, end, placeholder: classify(inner)? });
        from = end;
    }
    Ok(found)
}

fn classify(inner: &str) -> Result<Placeholder, String> {
    let name = inner.trim();
    let invalid = || {
        format!(
            "{} is not a valid variable: use {{{{1}}}}, {{{{2}}}}, ... or a name of lowercase letters, digits \
             and underscores starting with a letter",
            placeholder(inner)
        )
    };
    if name.is_empty() {
        return Err(invalid());
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return match name.parse::<u32>() {
            Ok(n) if n >= 1 && !name.starts_with('0') => Ok(Placeholder::Positional(n)),
            _ => Err(invalid()),
        };
    }
    let mut bytes = name.bytes();
    let starts_with_letter = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    if starts_with_letter && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        Ok(Placeholder::Named(name.to_owned()))
    } else {
        Err(invalid())
    }
}

/// The distinct variable names of one component: positional ones by number, named ones in order
/// of appearance.
fn names(tokens: &[Token]) -> Vec<String> {
    let mut numbers: Vec<u32> = tokens
        .iter()
        .filter_map(|t| match t.placeholder {
            Placeholder::Positional(n) => Some(n),
            Placeholder::Named(_) => None,
        })
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut names: Vec<String> = numbers.into_iter().map(|n| n.to_string()).collect();
    for token in tokens {
        if let Placeholder::Named(name) = &token.placeholder
            && !names.contains(name)
        {
            names.push(name.clone());
        }
    }
    names
}

// --- the client's message --------------------------------------------------------------------

/// A value as the Cloud API carries it.
#[derive(Debug, Clone, PartialEq)]
enum ParamValue {
    Text(String),
    Currency { fallback: String, object: Value },
    DateTime { fallback: String, object: Value },
    Media { kind: HeaderMedia, link: Option<String>, filename: Option<String> },
    Location { latitude: Option<String>, longitude: Option<String>, name: Option<String>, address: Option<String> },
    CouponCode(String),
    Payload(String),
}

impl ParamValue {
    /// `a text parameter`, `an image parameter`, ...
    fn describe(&self) -> String {
        let kind = match self {
            ParamValue::Text(_) => "a text",
            ParamValue::Currency { .. } => "a currency",
            ParamValue::DateTime { .. } => "a date_time",
            ParamValue::Media { kind: HeaderMedia::Image, .. } => "an image",
            ParamValue::Media { kind: HeaderMedia::Video, .. } => "a video",
            ParamValue::Media { .. } => "a document",
            ParamValue::Location { .. } => "a location",
            ParamValue::CouponCode(_) => "a coupon_code",
            ParamValue::Payload(_) => "a payload",
        };
        format!("{kind} parameter")
    }

    /// The text it shows in place of its variable (None: it fills no text variable).
    fn display(&self) -> Option<&str> {
        match self {
            ParamValue::Text(text) | ParamValue::CouponCode(text) => Some(text),
            ParamValue::Currency { fallback, .. } | ParamValue::DateTime { fallback, .. } => Some(fallback),
            _ => None,
        }
    }

    fn fills_text(&self) -> bool {
        matches!(self, ParamValue::Text(_) | ParamValue::Currency { .. } | ParamValue::DateTime { .. })
    }

    /// The Cloud API parameter object.
    fn cloud(&self, parameter_name: Option<&str>) -> Value {
        let mut parameter = match self {
            ParamValue::Text(text) => json!({"type": "text", "text": text}),
            ParamValue::Currency { object, .. } => json!({"type": "currency", "currency": object}),
            ParamValue::DateTime { object, .. } => json!({"type": "date_time", "date_time": object}),
            ParamValue::Media { kind, link, filename } => {
                let mut media = Map::new();
                media.insert("link".into(), json!(link));
                if let Some(filename) = filename {
                    media.insert("filename".into(), json!(filename));
                }
                json!({"type": kind.parameter_type(), kind.parameter_type(): media})
            }
            ParamValue::Location { latitude, longitude, name, address } => {
                let mut location = Map::new();
                location.insert("latitude".into(), json!(latitude));
                location.insert("longitude".into(), json!(longitude));
                if let Some(name) = name {
                    location.insert("name".into(), json!(name));
                }
                if let Some(address) = address {
                    location.insert("address".into(), json!(address));
                }
                json!({"type": "location", "location": location})
            }
            ParamValue::CouponCode(code) => json!({"type": "coupon_code", "coupon_code": code}),
            ParamValue::Payload(payload) => json!({"type": "payload", "payload": payload}),
        };
        if let (Some(name), Some(object)) = (parameter_name, parameter.as_object_mut()) {
            object.insert("parameter_name".into(), json!(name));
        }
        parameter
    }
}

/// One parameter of the message, with its `parameter_name` if given.
#[derive(Debug, Clone, PartialEq)]
struct Param {
    name: Option<String>,
    value: ParamValue,
}

/// The parameters given for one button.
#[derive(Debug, Clone, PartialEq)]
struct ButtonValues {
    index: usize,
    sub_type: Option<String>,
    params: Vec<Param>,
}

/// A client's template message (Yeastar `whatsapp_msg_param`), parsed but not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateMessage {
    /// Yeastar's `id`: our id of the synchronised template, if given.
    pub id: Option<i64>,
    /// Graph's template id, if given.
    pub template_id: Option<String>,
    /// Template name.
    pub name: String,
    /// `language.code`.
    pub language: String,
    /// `parameter_format`, if given.
    pub parameter_format: Option<ParameterFormat>,
    header: Vec<Param>,
    body: Vec<Param>,
    buttons: Vec<ButtonValues>,
}

fn invalid(detail: impl Into<String>) -> TemplateError {
    TemplateError::InvalidMessage(detail.into())
}

/// A string, or a number written as one.
fn string_of(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

impl TemplateMessage {
    /// Parses Yeastar's template message object (module docs for the accepted shapes).
    pub fn parse(whatsapp_msg_param: &str) -> Result<TemplateMessage, TemplateError> {
        let value: Value =
            serde_json::from_str(whatsapp_msg_param).map_err(|e| TemplateError::InvalidJson(e.to_string()))?;
        let Some(object) = value.as_object() else {
            return Err(invalid("it must be a JSON object"));
        };
        let id = match object.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| invalid("`id` must be an integer"))?),
            Some(Value::String(s)) => Some(s.trim().parse().map_err(|_| invalid("`id` must be an integer"))?),
            Some(_) => return Err(invalid("`id` must be an integer")),
        };
        let template_id = string_of(object.get("template_id")).filter(|s| !s.is_empty());
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| invalid("`name` (the template name) is missing"))?
            .to_owned();
        let language = match object.get("language") {
            Some(Value::Object(l)) => l.get("code").and_then(Value::as_str),
            Some(Value::String(code)) => Some(code.as_str()),
            _ => None,
        }
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid("`language.code` is missing"))?
        .to_owned();
        let parameter_format = match object.get("parameter_format") {
            None | Some(Value::Null) => None,
            Some(Value::String(f)) => Some(
                ParameterFormat::parse(f)
                    .ok_or_else(|| invalid(format!("`parameter_format` {f:?} is neither POSITIONAL nor NAMED")))?,
            ),
            Some(_) => return Err(invalid("`parameter_format` must be POSITIONAL or NAMED")),
        };
        let mut message = TemplateMessage {
            id,
            template_id,
            name,
            language,
            parameter_format,
            header: Vec::new(),
            body: Vec::new(),
            buttons: Vec::new(),
        };
        let components = match object.get("components") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(invalid("`components` must be an array")),
        };
        let (mut header_seen, mut body_seen) = (false, false);
        for (i, component) in components.iter().enumerate() {
            match kind_of(component).as_str() {
                "HEADER" if header_seen => return Err(invalid("two HEADER components")),
                "HEADER" => {
                    header_seen = true;
                    message.header = params(component, VariableComponent::Header)?;
                }
                "BODY" if body_seen => return Err(invalid("two BODY components")),
                "BODY" => {
                    body_seen = true;
                    message.body = params(component, VariableComponent::Body)?;
                }
                "FOOTER" => {
                    if component.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty()) {
                        return Err(invalid("the footer takes no parameters"));
                    }
                }
                "BUTTONS" => {
                    let entries = match component.get("buttons").or_else(|| component.get("parameters")) {
                        None | Some(Value::Null) => &Vec::new(),
                        Some(Value::Array(list)) => list,
                        Some(_) => return Err(invalid("BUTTONS needs a list of buttons")),
                    };
                    for entry in entries {
                        message.buttons.push(button_values(entry)?);
                    }
                }
                "BUTTON" => message.buttons.push(button_values(component)?),
                "" => return Err(invalid(format!("components[{i}] has no type"))),
                other => {
                    return Err(invalid(format!(
                        "components[{i}] has type {other:?}; expected HEADER, BODY, FOOTER or BUTTONS"
                    )));
                }
            }
        }
        Ok(message)
    }

    /// The synchronised template this message names: by `template_id` when given, else by name
    /// and language.
    pub fn find_in<'a>(&self, templates: &'a [WhatsAppTemplate]) -> Result<&'a WhatsAppTemplate, TemplateError> {
        templates
            .iter()
            .find(|t| match &self.template_id {
                Some(id) => &t.template_id == id,
                None => t.name == self.name && t.language == self.language,
            })
            .ok_or_else(|| TemplateError::NotSynchronised { name: self.name.clone(), language: self.language.clone() })
    }

    /// Checks the message against the synchronised `template` (module docs) and fills it.
    pub fn check_against(&self, template: &WhatsAppTemplate) -> Result<FilledTemplate, TemplateError> {
        let mismatch = |field, given: &str, stored: &str| TemplateError::TemplateMismatch {
            field,
            given: given.to_owned(),
            stored: stored.to_owned(),
        };
        if self.name != template.name {
            return Err(mismatch("name", &self.name, &template.name));
        }
        if self.language != template.language {
            return Err(mismatch("language", &self.language, &template.language));
        }
        if let Some(id) = &self.template_id
            && id != &template.template_id
        {
            return Err(mismatch("template_id", id, &template.template_id));
        }
        if let Some(format) = self.parameter_format
            && format != template.parameter_format
        {
            return Err(mismatch("parameter_format", format.as_str(), template.parameter_format.as_str()));
        }
        let layout = layout(&template.components, Some(template.parameter_format))
            .map_err(|reason| TemplateError::UnusableTemplate { name: template.name.clone(), reason })?;
        let named = layout.format == ParameterFormat::Named;

        let mut values = Values::default();
        let header_media = match &layout.header {
            Some(Header::Media(kind)) => Some(self.header_media(*kind, &template.name)?),
            _ => {
                let variables = layout.variables_of(VariableComponent::Header);
                values.assign(VariableComponent::Header, &variables, &self.header, named, &template.name)?;
                None
            }
        };
        let variables = layout.variables_of(VariableComponent::Body);
        values.assign(VariableComponent::Body, &variables, &self.body, named, &template.name)?;

        let mut quick_replies = Vec::new();
        let mut otp_given = None;
        for entry in &self.buttons {
            let component = VariableComponent::Button { index: entry.index };
            let Some(button) = layout.buttons.get(entry.index) else {
                if entry.params.is_empty() {
                    continue;
                }
                return Err(TemplateError::ExtraValue { component, value: "value #1".into() });
            };
            let expected = button.kind.to_ascii_lowercase();
            if let Some(sub_type) = &entry.sub_type
                && sub_type != &expected
                && !(button.kind == "OTP" && sub_type == "url")
            {
                return Err(TemplateError::WrongParameterType {
                    component,
                    expected: format!("a {expected} button entry"),
                    got: format!("a {sub_type} button entry"),
                });
            }
            match button.kind.as_str() {
                "URL" | "COPY_CODE" => {
                    let variables = layout.variables_of(component);
                    values.assign(component, &variables, &entry.params, false, &template.name)?;
                }
                "QUICK_REPLY" => {
                    for param in &entry.params {
                        match &param.value {
                            ParamValue::Payload(payload) => quick_replies.push((entry.index, payload.clone())),
                            other => {
                                return Err(TemplateError::WrongParameterType {
                                    component,
                                    expected: "a payload parameter".into(),
                                    got: other.describe(),
                                });
                            }
                        }
                    }
                }
                "OTP" => {
                    // The code is copied from the body; a client following the Cloud API may
                    // give it again here.
                    if entry.params.len() > 1 {
                        return Err(TemplateError::ExtraValue { component, value: "value #2".into() });
                    }
                    if let Some(param) = entry.params.first() {
                        match param.value.display().filter(|_| param.value.fills_text()) {
                            Some(code) => otp_given = Some((entry.index, code.to_owned())),
                            None => {
                                return Err(TemplateError::WrongParameterType {
                                    component,
                                    expected: "a text parameter".into(),
                                    got: param.value.describe(),
                                });
                            }
                        }
                    }
                }
                _ => {
                    if !entry.params.is_empty() {
                        return Err(TemplateError::ExtraValue { component, value: "value #1".into() });
                    }
                }
            }
        }

        for variable in &layout.variables {
            let filled = values.get(variable).and_then(ParamValue::display).is_some_and(|v| !v.trim().is_empty());
            if !filled {
                return Err(TemplateError::MissingValue {
                    component: variable.component,
                    placeholder: variable.placeholder(),
                });
            }
        }
        let otp = otp_given.or_else(|| {
            let index = layout.buttons.iter().position(|b| b.kind == "OTP")?;
            let code = layout.variables_of(VariableComponent::Body).first().and_then(|v| values.get(v))?;
            code.display().map(|code| (index, code.to_owned()))
        });
        let mut values = values.0;
        values.sort_by_key(|(variable, _)| layout.variables.iter().position(|v| v == variable));
        Ok(FilledTemplate {
            name: template.name.clone(),
            language: template.language.clone(),
            layout,
            header_media,
            values,
            quick_replies,
            otp,
        })
    }

    /// The header's one media or location parameter.
    fn header_media(&self, kind: HeaderMedia, template: &str) -> Result<ParamValue, TemplateError> {
        let missing = || TemplateError::MissingHeaderMedia { template: template.to_owned(), kind };
        let (first, rest) = self.header.split_first().ok_or_else(missing)?;
        if !rest.is_empty() {
            return Err(TemplateError::ExtraValue { component: VariableComponent::Header, value: "value #2".into() });
        }
        match &first.value {
            ParamValue::Media { kind: given, link, filename } if *given == kind => {
                let link = link.as_deref().map(str::trim).filter(|l| !l.is_empty()).ok_or_else(missing)?;
                if !is_https_url(link) {
                    return Err(TemplateError::InsecureMediaLink { kind, link: link.to_owned() });
                }
                Ok(ParamValue::Media { kind, link: Some(link.to_owned()), filename: filename.clone() })
            }
            ParamValue::Location { latitude, longitude, .. } if kind == HeaderMedia::Location => {
                let within = |value: &Option<String>, limit: f64| {
                    value.as_deref().and_then(|v| v.trim().parse::<f64>().ok()).is_some_and(|v| v.abs() <= limit)
                };
                if !within(latitude, 90.0) || !within(longitude, 180.0) {
                    let shown =
                        |value: &Option<String>| value.as_deref().map_or("none".to_owned(), |v| format!("{v:?}"));
                    return Err(TemplateError::InvalidLocation(format!(
                        "latitude {} and longitude {}",
                        shown(latitude),
                        shown(longitude)
                    )));
                }
                Ok(first.value.clone())
            }
            other => Err(TemplateError::WrongParameterType {
                component: VariableComponent::Header,
                expected: format!("{} parameter", with_article(&kind)),
                got: other.describe(),
            }),
        }
    }
}

/// `https://` followed by a host, with no whitespace.
fn is_https_url(link: &str) -> bool {
    let Some(scheme) = link.get(..8) else { return false };
    let rest = &link[8..];
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme.eq_ignore_ascii_case("https://") && !host.is_empty() && !link.chars().any(char::is_whitespace)
}

/// The `parameters` of a HEADER or BODY component.
fn params(component: &Value, at: VariableComponent) -> Result<Vec<Param>, TemplateError> {
    match component.get("parameters") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => {
            list.iter().enumerate().map(|(i, p)| param(p, &format!("value #{} of {at}", i + 1))).collect()
        }
        Some(_) => Err(invalid(format!("the parameters of {at} must be an array"))),
    }
}

fn param(value: &Value, at: &str) -> Result<Param, TemplateError> {
    let Some(object) = value.as_object() else {
        return Err(invalid(format!("{at} must be an object")));
    };
    let kind = object.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let name = object.get("parameter_name").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty());
    let object_of = |key: &str| match object.get(key) {
        Some(Value::Object(inner)) => Ok(inner.clone()),
        _ => Err(invalid(format!("{at} of type {kind} needs a `{key}` object"))),
    };
    let fallback = |inner: &Map<String, Value>| string_of(inner.get("fallback_value")).unwrap_or_default();
    let value = match kind.as_str() {
        "text" => ParamValue::Text(string_of(object.get("text")).unwrap_or_default()),
        "currency" => {
            let inner = object_of("currency")?;
            ParamValue::Currency { fallback: fallback(&inner), object: Value::Object(inner) }
        }
        "date_time" => {
            let inner = object_of("date_time")?;
            ParamValue::DateTime { fallback: fallback(&inner), object: Value::Object(inner) }
        }
        "image" | "video" | "document" => {
            let media = HeaderMedia::from_format(&kind).unwrap_or(HeaderMedia::Document);
            let inner = object.get(kind.as_str()).and_then(Value::as_object);
            let field = |key: &str| inner.and_then(|m| m.get(key)).and_then(Value::as_str).map(str::to_owned);
            ParamValue::Media { kind: media, link: field("link"), filename: field("filename") }
        }
        "location" => {
            let inner = object_of("location")?;
            let text = |key: &str| inner.get(key).and_then(Value::as_str).map(str::to_owned);
            ParamValue::Location {
                latitude: string_of(inner.get("latitude")),
                longitude: string_of(inner.get("longitude")),
                name: text("name"),
                address: text("address"),
            }
        }
        "coupon_code" => ParamValue::CouponCode(string_of(object.get("coupon_code")).unwrap_or_default()),
        "payload" => ParamValue::Payload(string_of(object.get("payload")).unwrap_or_default()),
        "" => return Err(invalid(format!("{at} has no type"))),
        other => {
            return Err(invalid(format!(
                "{at} has type {other:?}; expected text, currency, date_time, image, video, document, location, \
                 coupon_code or payload"
            )));
        }
    };
    Ok(Param { name: name.map(str::to_owned), value })
}

/// Button types, as a `sub_type` or an entry's `type`.
const BUTTON_TYPES: [&str; 8] = ["url", "quick_reply", "copy_code", "phone_number", "otp", "flow", "catalog", "mpm"];

/// One entry of BUTTONS, or a Cloud-API-style `button` component.
fn button_values(entry: &Value) -> Result<ButtonValues, TemplateError> {
    let Some(object) = entry.as_object() else {
        return Err(invalid("each button entry must be an object"));
    };
    let index = match object.get("index") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|i| usize::try_from(i).ok())
    .ok_or_else(|| invalid("each button entry needs an `index` (the button's position, from 0)"))?;
    let kind = object.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let sub_type = object
        .get("sub_type")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .or_else(|| BUTTON_TYPES.contains(&kind.as_str()).then(|| kind.clone()));
    let at = VariableComponent::Button { index };
    let params = match object.get("parameters") {
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, p)| param(p, &format!("value #{} of {at}", i + 1)))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(format!("the parameters of {at} must be an array"))),
        None => {
            // The value inline: {"index":0, "type":"url", "text":".."}.
            let inline = [("text", "text"), ("coupon_code", "coupon_code"), ("payload", "payload")]
                .into_iter()
                .find(|(key, _)| object.contains_key(*key));
            match inline {
                Some((key, kind)) => vec![param(&json!({"type": kind, key: object.get(key)}), &format!("{at}"))?],
                None => Vec::new(),
            }
        }
    };
    Ok(ButtonValues { index, sub_type, params })
}

/// The values given so far, by variable.
#[derive(Debug, Default)]
struct Values(Vec<(TemplateVariable, ParamValue)>);

impl Values {
    fn get(&self, variable: &TemplateVariable) -> Option<&ParamValue> {
        self.0.iter().find(|(v, _)| v == variable).map(|(_, value)| value)
    }

    /// Matches the `params` given for `component` to its `variables`: by `parameter_name` when
    /// `named`, else by position.
    fn assign(
        &mut self,
        component: VariableComponent,
        variables: &[&TemplateVariable],
        params: &[Param],
        named: bool,
        template: &str,
    ) -> Result<(), TemplateError> {
        let coupon = matches!(component, VariableComponent::Button { .. })
            && variables.first().is_some_and(|v| v.name == "coupon_code");
        for (i, param) in params.iter().enumerate() {
            let position = i + 1;
            let accepted = param.value.fills_text() || (coupon && matches!(param.value, ParamValue::CouponCode(_)));
            if !accepted {
                let expected = if coupon { "a coupon_code parameter" } else { "a text parameter" };
                return Err(TemplateError::WrongParameterType {
                    component,
                    expected: expected.into(),
                    got: param.value.describe(),
                });
            }
            let variable = if named {
                let Some(name) = &param.name else {
                    return Err(TemplateError::MissingParameterName {
                        component,
                        position,
                        template: template.to_owned(),
                    });
                };
                variables
                    .iter()
                    .find(|v| &v.name == name)
                    .ok_or_else(|| TemplateError::ExtraValue { component, value: placeholder(name) })?
            } else {
                variables
                    .get(i)
                    .ok_or_else(|| TemplateError::ExtraValue { component, value: format!("value #{position}") })?
            };
            if self.get(variable).is_some() {
                return Err(TemplateError::DuplicateValue { component, placeholder: variable.placeholder() });
            }
            self.0.push(((*variable).clone(), param.value.clone()));
        }
        Ok(())
    }
}

// --- the result ------------------------------------------------------------------------------

/// A template message checked against its template: every variable has a value.
#[derive(Debug, Clone, PartialEq)]
pub struct FilledTemplate {
    name: String,
    language: String,
    layout: Layout,
    header_media: Option<ParamValue>,
    values: Vec<(TemplateVariable, ParamValue)>,
    quick_replies: Vec<(usize, String)>,
    otp: Option<(usize, String)>,
}

impl FilledTemplate {
    /// Template name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Language code.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The `template` object of the Cloud API send body (`"type":"template"`): name,
    /// `language.code` and, when anything is filled, `components` in the Cloud API's lower-case
    /// form (`header`, `body`, then `button`s by index), with `parameter_name` on the header and
    /// body values of a named template.
    pub fn cloud_api_template(&self) -> Value {
        let named = self.layout.format == ParameterFormat::Named;
        let texts = |component: VariableComponent, named: bool| -> Vec<Value> {
            self.layout
                .variables_of(component)
                .into_iter()
                .filter_map(|variable| {
                    let value = self.value(variable)?;
                    Some(value.cloud(named.then_some(variable.name.as_str())))
                })
                .collect()
        };
        let mut components = Vec::new();
        let header = match &self.header_media {
            Some(media) => vec![media.cloud(None)],
            None => texts(VariableComponent::Header, named),
        };
        if !header.is_empty() {
            components.push(json!({"type": "header", "parameters": header}));
        }
        let body = texts(VariableComponent::Body, named);
        if !body.is_empty() {
            components.push(json!({"type": "body", "parameters": body}));
        }
        for (index, button) in self.layout.buttons.iter().enumerate() {
            let component = VariableComponent::Button { index };
            let (sub_type, parameters) = match button.kind.as_str() {
                "URL" => ("url", texts(component, false)),
                "COPY_CODE" => {
                    let code = self.layout.variables_of(component).first().and_then(|v| self.value(v));
                    let code = code.and_then(ParamValue::display).unwrap_or_default();
                    ("copy_code", vec![ParamValue::CouponCode(code.to_owned()).cloud(None)])
                }
                "QUICK_REPLY" => (
                    "quick_reply",
                    self.quick_replies
                        .iter()
                        .filter(|(i, _)| *i == index)
                        .map(|(_, payload)| ParamValue::Payload(payload.clone()).cloud(None))
                        .collect(),
                ),
                "OTP" => (
                    "url",
                    self.otp
                        .iter()
                        .filter(|(i, _)| *i == index)
                        .map(|(_, code)| ParamValue::Text(code.clone()).cloud(None))
                        .collect(),
                ),
                _ => continue,
            };
            if !parameters.is_empty() {
                components.push(json!({
                    "type": "button", "sub_type": sub_type, "index": index.to_string(), "parameters": parameters,
                }));
            }
        }
        let mut template = Map::new();
        template.insert("name".into(), json!(self.name));
        template.insert("language".into(), json!({"code": self.language}));
        if !components.is_empty() {
            template.insert("components".into(), Value::Array(components));
        }
        Value::Object(template)
    }

    /// The template's header, body and footer text with the values in place, one per line (a
    /// media header has no text), for the message history: `Hello Ann, your order 42 ships
    /// today.`
    pub fn preview_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(Header::Text(text)) = &self.layout.header {
            parts.push(self.substitute(text, VariableComponent::Header));
        }
        parts.push(self.substitute(&self.layout.body, VariableComponent::Body));
        if let Some(footer) = &self.layout.footer {
            parts.push(footer.clone());
        }
        parts.retain(|p| !p.trim().is_empty());
        parts.join("\n")
    }

    fn value(&self, variable: &TemplateVariable) -> Option<&ParamValue> {
        self.values.iter().find(|(v, _)| v == variable).map(|(_, value)| value)
    }

    fn substitute(&self, text: &str, component: VariableComponent) -> String {
        let Ok(found) = tokens(text) else { return text.to_owned() };
        let mut out = String::with_capacity(text.len());
        let mut from = 0;
        for token in found {
            out.push_str(&text[from..token.start]);
            let variable = TemplateVariable { component, name: token.placeholder.name() };
            match self.value(&variable).and_then(ParamValue::display) {
                Some(value) => out.push_str(value),
                None => out.push_str(&text[token.start..token.end]),
            }
            from = token.end;
        }
        out.push_str(&text[from..]);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// One page as Graph answers it (shapes from Graph's `message_templates` reference and the
    /// template guides): positional and named templates, media, location and text headers, URL,
    /// quick-reply, copy-code and OTP buttons, a PENDING and a REJECTED one, a catalog template and
    /// two with malformed variables.
    fn graph_page() -> Value {
        json!({
            "data": [
                {
                    "name": "spring_sale",
                    "parameter_format": "NAMED",
                    "components": [
                        {"type": "HEADER", "format": "IMAGE",
                         "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61.29466-34/sale.jpg"]}},
                        {"type": "BODY", "text": "Hi {{first_name}}, our spring sale is on: {{ discount }} off everything!",
                         "example": {"body_text_named_params": [
                             {"param_name": "first_name", "example": "Pablo"},
                             {"param_name": "discount", "example": "25%"}]}},
                        {"type": "FOOTER", "text": "Reply STOP to opt out"},
                        {"type": "BUTTONS", "buttons": [
                            {"type": "URL", "text": "Shop now", "url": "https://shop.example.com/sale/{{1}}",
                             "example": ["https://shop.example.com/sale/spring25"]},
                            {"type": "QUICK_REPLY", "text": "Not interested"}]}
                    ],
                    "language": "en",
                    "status": "APPROVED",
                    "category": "MARKETING",
                    "id": "2017410385331820"
                },
                {
                    "name": "order_update",
                    "parameter_format": "POSITIONAL",
                    "components": [
                        {"type": "BODY", "text": "Hello {{1}}, your order {{2}} ships today.",
                         "example": {"body_text": [["Ann", "42"]]}},
                        {"type": "FOOTER", "text": "Thanks for shopping with Acme"}
                    ],
                    "language": "en_US",
                    "status": "APPROVED",
                    "category": "UTILITY",
                    "sub_category": "CUSTOM",
                    "id": "1667192013751005"
                },
                {
                    "name": "pickup_ready",
                    "components": [
                        {"type": "HEADER", "format": "LOCATION"},
                        {"type": "BODY", "text": "Good news {{1}}! Parcel {{2}} is waiting at the pickup point above.",
                         "example": {"body_text": [["Mark", "566701"]]}},
                        {"type": "BUTTONS", "buttons": [{"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550783881"}]}
                    ],
                    "language": "en_GB",
                    "status": "APPROVED",
                    "category": "UTILITY",
                    "id": "1122334455667788"
                },
                {
                    "name": "appointment_reminder",
                    "parameter_format": "POSITIONAL",
                    "components": [
                        {"type": "HEADER", "format": "TEXT", "text": "Reminder for {{1}}",
                         "example": {"header_text": ["Ann"]}},
                        {"type": "BODY", "text": "Your appointment is on {{1}} at {{2}}.",
                         "example": {"body_text": [["May 2", "10:00"]]}}
                    ],
                    "language": "en_US",
                    "status": "APPROVED",
                    "category": "UTILITY",
                    "id": "5566778899001122"
                },
                {
                    "name": "fall_coupon",
                    "parameter_format": "POSITIONAL",
                    "components": [
                        {"type": "BODY", "text": "Use code {{1}} to get {{2}} off!",
                         "example": {"body_text": [["25OFF", "25%"]]}},
                        {"type": "BUTTONS", "buttons": [
                            {"type": "QUICK_REPLY", "text": "Unsubscribe"},
                            {"type": "COPY_CODE", "example": "25OFF"}]}
                    ],
                    "language": "en_US",
                    "status": "APPROVED",
                    "category": "MARKETING",
                    "id": "1924084211297547"
                },
                {
                    "name": "login_code",
                    "parameter_format": "POSITIONAL",
                    "components": [
                        {"type": "BODY", "text": "*{{1}}* is your verification code.",
                         "add_security_recommendation": true},
                        {"type": "FOOTER", "text": "This code expires in 10 minutes.", "code_expiration_minutes": 10},
                        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}
                    ],
                    "language": "en_US",
                    "status": "APPROVED",
                    "category": "AUTHENTICATION",
                    "id": "9988776655443322"
                },
                {
                    "name": "new_arrivals",
                    "components": [{"type": "BODY", "text": "New in store, {{1}}!"}],
                    "language": "en_US",
                    "status": "PENDING",
                    "category": "MARKETING",
                    "id": "3001"
                },
                {
                    "name": "win_big",
                    "components": [{"type": "BODY", "text": "You won!"}],
                    "language": "en_US",
                    "status": "REJECTED",
                    "rejected_reason": "PROMOTIONAL",
                    "category": "MARKETING",
                    "id": "3002"
                },
                {
                    "name": "intro_catalog_offer",
                    "components": [
                        {"type": "BODY", "text": "Now shop for your favourite products on WhatsApp! Get Rs {{1}} off.",
                         "example": {"body_text": [["100"]]}},
                        {"type": "FOOTER", "text": "Best grocery deals on WhatsApp!"},
                        {"type": "BUTTONS", "buttons": [{"type": "CATALOG", "text": "View catalog"}]}
                    ],
                    "language": "en_US",
                    "status": "APPROVED",
                    "category": "MARKETING",
                    "id": "3003"
                },
                {
                    "name": "broken_vars",
                    "components": [{"type": "BODY", "text": "Hello {{Bad-Name}}"}],
                    "language": "en_US",
                    "status": "APPROVED",
                    "category": "UTILITY",
                    "id": "3004"
                },
                {
                    "name": "empty_var",
                    "components": [{"type": "BODY", "text": "Hello {{}}, welcome"}],
                    "language": "de",
                    "status": "APPROVED",
                    "category": "UTILITY",
                    "id": "3005"
                }
            ],
            "paging": {
                "cursors": {"before": "MAZDZD", "after": "MjQZD"},
                "next": "https://graph.facebook.com/v21.0/102290129340398/message_templates?limit=11&after=MjQZD"
            }
        })
    }

    fn synced() -> Vec<WhatsAppTemplate> {
        let page = parse_template_page(graph_page().to_string().as_bytes()).unwrap();
        select_for_sync(page.templates).templates
    }

    fn template(name: &str) -> WhatsAppTemplate {
        synced().into_iter().find(|t| t.name == name).unwrap()
    }

    fn var(component: VariableComponent, name: &str) -> TemplateVariable {
        TemplateVariable { component, name: name.into() }
    }

    fn remote(name: &str, language: &str, components: Value) -> RemoteTemplate {
        RemoteTemplate {
            id: format!("id-{name}-{language}"),
            name: name.into(),
            language: language.into(),
            status: "APPROVED".into(),
            category: Some("UTILITY".into()),
            sub_category: None,
            parameter_format: None,
            components,
        }
    }

    fn body(text: &str) -> Value {
        json!([{"type": "BODY", "text": text}])
    }

    fn fill(message: Value, template_name: &str) -> Result<FilledTemplate, TemplateError> {
        TemplateMessage::parse(&message.to_string())?.check_against(&template(template_name))
    }

    fn order_update(body: Value) -> Value {
        json!({"id": 579, "template_id": "1667192013751005", "name": "order_update", "language": {"code": "en_US"},
               "parameter_format": "POSITIONAL", "components": [{"type": "BODY", "parameters": body}]})
    }

    fn spring_sale(components: Value) -> Value {
        json!({"id": 580, "template_id": "2017410385331820", "name": "spring_sale", "language": {"code": "en"},
               "parameter_format": "NAMED", "components": components})
    }

    const SALE_IMAGE: &str = "https://cdn.example.com/spring.jpg";

    fn spring_sale_components() -> Value {
        json!([
            {"type": "HEADER", "parameters": [{"type": "image", "image": {"link": SALE_IMAGE}}]},
            {"type": "BODY", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ann"},
                {"type": "text", "parameter_name": "discount", "text": "30%"}]},
            {"type": "BUTTONS", "buttons": [{"index": 0, "sub_type": "url", "parameters": [{"type": "text", "text": "ann-30"}]}]}
        ])
    }

    // --- the Graph listing ---------------------------------------------------------------------

    #[test]
    fn when_parsing_a_graph_page_should_read_every_template_and_the_next_cursor() {
        // GIVEN a page with a `paging.next`
        let body = graph_page().to_string();
        // WHEN it is parsed
        let page = parse_template_page(body.as_bytes()).unwrap();
        // THEN every template is read in Graph's order, and the `after` cursor is the next page
        assert_eq!(page.templates.len(), 11);
        assert_eq!(page.next_after.as_deref(), Some("MjQZD"));
        let first = &page.templates[0];
        assert_eq!(
            (first.id.as_str(), first.name.as_str(), first.language.as_str(), first.status.as_str()),
            ("2017410385331820", "spring_sale", "en", "APPROVED")
        );
        assert_eq!(first.category.as_deref(), Some("MARKETING"));
        assert_eq!(first.parameter_format.as_deref(), Some("NAMED"));
        assert_eq!(first.components, graph_page()["data"][0]["components"]);
        assert_eq!(page.templates[1].sub_category.as_deref(), Some("CUSTOM"));
        assert_eq!(page.templates[2].parameter_format, None);
        let names: Vec<&str> = page.templates.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names[6..8], ["new_arrivals", "win_big"]);
    }

    #[test]
    fn when_the_page_is_the_last_should_have_no_next_cursor() {
        // Graph keeps `cursors` on the last page but drops `next`.
        let last = json!({"data": [], "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}});
        assert_eq!(
            parse_template_page(last.to_string().as_bytes()).unwrap(),
            TemplatePage { templates: vec![], next_after: None }
        );
        let bare =
            json!({"data": [{"id": 42, "name": "n", "language": "en", "status": "APPROVED", "extra": {"x": 1}}]});
        let page = parse_template_page(bare.to_string().as_bytes()).unwrap();
        assert_eq!(page.next_after, None);
        assert_eq!(page.templates[0].id, "42", "a numeric id is read as its digits");
        assert_eq!(page.templates[0].components, json!([]));
        assert_eq!(page.templates[0].category, None);
    }

    #[test]
    fn when_a_template_lacks_a_required_field_should_name_it() {
        for field in ["id", "name", "language", "status"] {
            let mut page = graph_page();
            page["data"][3].as_object_mut().unwrap().remove(field);
            let err = parse_template_page(page.to_string().as_bytes()).unwrap_err();
            assert_eq!(err, TemplateError::MissingTemplateField { index: 3, field });
            assert_eq!(err.to_string(), format!("template data[3] of the message_templates answer has no `{field}`"));
            assert_eq!(err.field(), "message_templates");
        }
        let mut page = graph_page();
        page["data"][1]["name"] = json!("");
        assert_eq!(
            parse_template_page(page.to_string().as_bytes()).unwrap_err(),
            TemplateError::MissingTemplateField { index: 1, field: "name" }
        );
    }

    #[test]
    fn when_graph_answers_an_error_or_garbage_should_refuse_the_page() {
        let error =
            json!({"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}});
        assert_eq!(
            parse_template_page(error.to_string().as_bytes()).unwrap_err().to_string(),
            "the message_templates answer is not a page of templates: Graph answered an error: Error validating \
             access token (code 190)"
        );
        for body in ["<html>", "{}", r#"{"data": {}}"#, r#"{"data": [1]}"#] {
            assert!(
                matches!(parse_template_page(body.as_bytes()), Err(TemplateError::InvalidTemplatePage(_))),
                "{body}"
            );
        }
        let no_cursor = json!({"data": [], "paging": {"next": "https://graph.facebook.com/v21.0/1/message_templates"}});
        assert_eq!(
            parse_template_page(no_cursor.to_string().as_bytes()).unwrap_err(),
            TemplateError::InvalidTemplatePage("`paging.next` is present without `paging.cursors.after`".into())
        );
    }

    // --- selection -----------------------------------------------------------------------------

    #[test]
    fn when_selecting_for_sync_should_keep_approved_non_catalog_valid_templates_sorted() {
        // GIVEN the page's templates
        let page = parse_template_page(graph_page().to_string().as_bytes()).unwrap();
        // WHEN the channel's rules are applied
        let selection = select_for_sync(page.templates);
        // THEN APPROVED, non-catalog, fillable templates are kept, by (name, language)
        let kept: Vec<(&str, &str)> =
            selection.templates.iter().map(|t| (t.name.as_str(), t.language.as_str())).collect();
        assert_eq!(
            kept,
            vec![
                ("appointment_reminder", "en_US"),
                ("fall_coupon", "en_US"),
                ("login_code", "en_US"),
                ("order_update", "en_US"),
                ("pickup_ready", "en_GB"),
                ("spring_sale", "en"),
            ]
        );
        // AND what was left out is counted, with reasons for the invalid ones
        assert_eq!((selection.not_approved, selection.catalog, selection.over_limit), (2, 1, 0));
        let invalid: Vec<(&str, &str)> =
            selection.invalid.iter().map(|t| (t.name.as_str(), t.template_id.as_str())).collect();
        assert_eq!(invalid, vec![("broken_vars", "3004"), ("empty_var", "3005")]);
        assert_eq!(
            selection.invalid[0].reason,
            "body: {{Bad-Name}} is not a valid variable: use {{1}}, {{2}}, ... or a name of lowercase letters, \
             digits and underscores starting with a letter"
        );
        assert!(selection.invalid[1].reason.starts_with("body: {{}} is not a valid variable"));
    }

    #[test]
    fn when_selecting_should_describe_each_template_for_sending() {
        let order = template("order_update");
        assert_eq!(
            order,
            WhatsAppTemplate {
                template_id: "1667192013751005".into(),
                name: "order_update".into(),
                language: "en_US".into(),
                category: "UTILITY".into(),
                sub_category: Some("CUSTOM".into()),
                parameter_format: ParameterFormat::Positional,
                components: graph_page()["data"][1]["components"].clone(),
                variables: vec![var(VariableComponent::Body, "1"), var(VariableComponent::Body, "2")],
                header_media: None,
            }
        );
        let sale = template("spring_sale");
        assert_eq!(sale.parameter_format, ParameterFormat::Named);
        assert_eq!(sale.header_media, Some(HeaderMedia::Image));
        assert_eq!(
            sale.variables,
            vec![
                var(VariableComponent::Body, "first_name"),
                var(VariableComponent::Body, "discount"),
                var(VariableComponent::Button { index: 0 }, "1"),
            ]
        );
        let pickup = template("pickup_ready");
        assert_eq!(pickup.parameter_format, ParameterFormat::Positional, "no parameter_format: positional");
        assert_eq!(pickup.header_media, Some(HeaderMedia::Location));
        assert_eq!(
            template("appointment_reminder").variables,
            vec![
                var(VariableComponent::Header, "1"),
                var(VariableComponent::Body, "1"),
                var(VariableComponent::Body, "2")
            ]
        );
        assert_eq!(
            template("fall_coupon").variables,
            vec![
                var(VariableComponent::Body, "1"),
                var(VariableComponent::Body, "2"),
                var(VariableComponent::Button { index: 1 }, "coupon_code"),
            ]
        );
        assert_eq!(template("login_code").variables, vec![var(VariableComponent::Body, "1")]);
        // The stored form round-trips (it is kept as JSON).
        let stored = serde_json::to_value(&sale).unwrap();
        assert_eq!(stored["parameter_format"], "NAMED");
        assert_eq!(stored["header_media"], "IMAGE");
        assert_eq!(stored["variables"][2], json!({"component": {"type": "button", "index": 0}, "name": "1"}));
        assert_eq!(serde_json::from_value::<WhatsAppTemplate>(stored).unwrap(), sale);
    }

    #[test]
    fn when_more_than_250_are_approved_should_keep_the_first_250_by_name_and_language() {
        // GIVEN 260 approved templates, listed in reverse order, two languages for some names
        let mut remote_templates: Vec<RemoteTemplate> = (0..130)
            .flat_map(|i| ["fr", "en"].map(|lang| remote(&format!("t{i:03}"), lang, body("Hi {{1}}"))))
            .collect();
        remote_templates.reverse();
        // WHEN they are selected
        let selection = select_for_sync(remote_templates);
        // THEN the first 250 by (name, language) are kept and 10 are over the limit
        assert_eq!(selection.templates.len(), MAX_TEMPLATES_PER_CHANNEL);
        assert_eq!(selection.over_limit, 10);
        let key = |t: &WhatsAppTemplate| format!("{}/{}", t.name, t.language);
        assert_eq!(key(&selection.templates[0]), "t000/en");
        assert_eq!(key(&selection.templates[1]), "t000/fr");
        assert_eq!(key(&selection.templates[249]), "t124/fr");
        assert_eq!((selection.not_approved, selection.catalog, selection.invalid.len()), (0, 0, 0));
    }

    #[test]
    fn when_rejected_templates_and_invalid_ones_exist_the_cap_should_count_only_kept_ones() {
        let mut list: Vec<RemoteTemplate> = (0..250).map(|i| remote(&format!("ok{i:03}"), "en", body("x"))).collect();
        list.push(remote("aaa_broken", "en", body("{{Bad}}")));
        list.push(RemoteTemplate { status: "PAUSED".into(), ..remote("aaa_paused", "en", body("x")) });
        let selection = select_for_sync(list);
        assert_eq!((selection.templates.len(), selection.over_limit), (250, 0));
        assert_eq!((selection.not_approved, selection.invalid.len()), (1, 1));
    }

    #[test]
    fn when_a_template_cannot_be_filled_should_exclude_it_with_the_reason() {
        let cases: Vec<(Value, Option<&str>, &str)> = vec![
            (body("Hi {{first-name}}"), None, "body: {{first-name}} is not a valid variable"),
            (body("Hi {{ }}"), None, "body: {{ }} is not a valid variable"),
            (body("Hi {{0}}"), None, "body: {{0}} is not a valid variable"),
            (body("Hi {{01}}"), None, "body: {{01}} is not a valid variable"),
            (body("Hi {{1st}}"), None, "body: {{1st}} is not a valid variable"),
            (body("Hi {{Name}}"), None, "body: {{Name}} is not a valid variable"),
            (body("Hi {{name"), None, "body: \"{{name\" opens a variable that is never closed"),
            (body("{{1}} and {{name}}"), None, "the header and body mix positional ({{1}}) and named variables"),
            (body("Hi {{name}}"), Some("POSITIONAL"), "parameter_format is POSITIONAL but the variables are named"),
            (body("Hi {{1}}"), Some("NAMED"), "parameter_format is NAMED but the variables are positional ({{1}})"),
            (body("Hi"), Some("BOTH"), "parameter_format \"BOTH\" is neither POSITIONAL nor NAMED"),
            (
                json!([{"type": "HEADER", "format": "GIF"}, {"type": "BODY", "text": "x"}]),
                None,
                "header format GIF is not supported",
            ),
            (
                json!([{"type": "BODY", "text": "x"}, {"type": "CAROUSEL", "cards": []}]),
                None,
                "component \"CAROUSEL\" is not supported",
            ),
            (json!([{"type": "HEADER", "format": "TEXT", "text": "x"}]), None, "there is no BODY"),
            (json!({"type": "BODY"}), None, "`components` is not an array"),
            (
                json!([{"type": "BODY", "text": "x"}, {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://x.test/{{Id}}"}]}]),
                None,
                "button 0 url: {{Id}} is not a valid variable",
            ),
        ];
        for (components, format, reason) in cases {
            let template =
                RemoteTemplate { parameter_format: format.map(str::to_owned), ..remote("t", "en", components) };
            let selection = select_for_sync(vec![template]);
            assert!(selection.templates.is_empty(), "{reason}");
            assert_eq!(selection.invalid.len(), 1, "{reason}");
            assert!(selection.invalid[0].reason.starts_with(reason), "{reason} <> {}", selection.invalid[0].reason);
        }
    }

    #[test]
    fn when_variables_are_well_formed_should_keep_the_template() {
        let cases = [
            ("{{ 1 }} then {{2}} then {{1}}", vec!["1", "2"]),
            ("{{order_id}} {{ order_2 }} {{order_id}}", vec!["order_id", "order_2"]),
            ("{{2}} before {{1}}", vec!["1", "2"]),
            ("no variables, just { braces }", vec![]),
        ];
        for (text, names) in cases {
            let selection = select_for_sync(vec![remote("t", "en", body(text))]);
            let found: Vec<String> = selection.templates[0].variables.iter().map(|v| v.name.clone()).collect();
            assert_eq!(found, names, "{text}");
        }
    }

    #[test]
    fn when_a_marketing_template_has_a_catalog_or_mpm_button_should_exclude_it() {
        let with = |button: &str, category: &str| RemoteTemplate {
            category: Some(category.into()),
            ..remote(
                "shop",
                "en",
                json!([{"type": "BODY", "text": "x"}, {"type": "BUTTONS", "buttons": [{"type": button, "text": "View"}]}]),
            )
        };
        let selection = select_for_sync(vec![with("CATALOG", "MARKETING"), with("MPM", "marketing")]);
        assert_eq!((selection.templates.len(), selection.catalog), (0, 2));
        // only marketing templates of the catalog type are excluded
        let selection = select_for_sync(vec![with("CATALOG", "UTILITY"), with("URL", "MARKETING")]);
        assert_eq!((selection.templates.len(), selection.catalog), (2, 0));
    }

    // --- sending: positional -------------------------------------------------------------------

    #[test]
    fn when_a_positional_message_is_checked_should_build_the_cloud_api_template() {
        // GIVEN the message a client sends for order_update
        let message = order_update(json!([{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]));
        // WHEN it is parsed and checked against the synchronised template
        let parsed = TemplateMessage::parse(&message.to_string()).unwrap();
        assert_eq!(parsed.id, Some(579));
        assert_eq!(parsed.template_id.as_deref(), Some("1667192013751005"));
        let filled = parsed.check_against(parsed.find_in(&synced()).unwrap()).unwrap();
        // THEN the Cloud API template carries the values in order
        assert_eq!(
            filled.cloud_api_template(),
            json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}
            ]})
        );
        // AND the history shows the text as the customer sees it
        assert_eq!(filled.preview_text(), "Hello Ann, your order 42 ships today.\nThanks for shopping with Acme");
        assert_eq!((filled.name(), filled.language()), ("order_update", "en_US"));
    }

    #[test]
    fn when_a_text_header_has_a_variable_should_fill_header_and_body_separately() {
        let message = json!({"name": "appointment_reminder", "language": {"code": "en_US"}, "components": [
            {"type": "HEADER", "parameters": [{"type": "text", "text": "Ann"}]},
            {"type": "BODY", "parameters": [
                {"type": "date_time", "date_time": {"fallback_value": "May 2"}},
                {"type": "text", "text": "10:00"}]}
        ]});
        let filled = fill(message, "appointment_reminder").unwrap();
        assert_eq!(
            filled.cloud_api_template(),
            json!({"name": "appointment_reminder", "language": {"code": "en_US"}, "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "Ann"}]},
                {"type": "body", "parameters": [
                    {"type": "date_time", "date_time": {"fallback_value": "May 2"}},
                    {"type": "text", "text": "10:00"}]}
            ]})
        );
        assert_eq!(filled.preview_text(), "Reminder for Ann\nYour appointment is on May 2 at 10:00.");
    }

    #[test]
    fn when_a_location_header_is_filled_should_send_the_pin() {
        let message = json!({"name": "pickup_ready", "language": {"code": "en_GB"}, "components": [
            {"type": "header", "parameters": [{"type": "location", "location": {
                "latitude": 51.5072, "longitude": "-0.1276", "name": "Acme Depot", "address": "1 Main St, London"}}]},
            {"type": "body", "parameters": [
                {"type": "text", "text": "Mark"},
                {"type": "currency", "currency": {"fallback_value": "#566701", "code": "GBP", "amount_1000": 566_701}}]}
        ]});
        let filled = fill(message, "pickup_ready").unwrap();
        assert_eq!(
            filled.cloud_api_template(),
            json!({"name": "pickup_ready", "language": {"code": "en_GB"}, "components": [
                {"type": "header", "parameters": [{"type": "location", "location": {
                    "latitude": "51.5072", "longitude": "-0.1276", "name": "Acme Depot", "address": "1 Main St, London"}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Mark"},
                    {"type": "currency", "currency": {"fallback_value": "#566701", "code": "GBP", "amount_1000": 566_701}}]}
            ]})
        );
        assert_eq!(filled.preview_text(), "Good news Mark! Parcel #566701 is waiting at the pickup point above.");
    }

    #[test]
    fn when_a_coupon_template_is_filled_should_send_the_code_on_its_button() {
        let message = json!({"name": "fall_coupon", "language": {"code": "en_US"}, "components": [
            {"type": "BODY", "parameters": [{"type": "text", "text": "25OFF"}, {"type": "text", "text": "25%"}]},
            {"type": "BUTTONS", "buttons": [
                {"index": 0, "sub_type": "quick_reply", "parameters": [{"type": "payload", "payload": "unsubscribe-ann"}]},
                {"index": 1, "sub_type": "copy_code", "parameters": [{"type": "coupon_code", "coupon_code": "25OFF"}]}]}
        ]});
        assert_eq!(
            fill(message, "fall_coupon").unwrap().cloud_api_template(),
            json!({"name": "fall_coupon", "language": {"code": "en_US"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "25OFF"}, {"type": "text", "text": "25%"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                 "parameters": [{"type": "payload", "payload": "unsubscribe-ann"}]},
                {"type": "button", "sub_type": "copy_code", "index": "1",
                 "parameters": [{"type": "coupon_code", "coupon_code": "25OFF"}]}
            ]})
        );
        // The coupon is a variable like any other: it must be given.
        let without = json!({"name": "fall_coupon", "language": {"code": "en_US"}, "components": [
            {"type": "BODY", "parameters": [{"type": "text", "text": "25OFF"}, {"type": "text", "text": "25%"}]}]});
        assert_eq!(
            fill(without, "fall_coupon").unwrap_err().to_string(),
            "variable {{coupon_code}} of button 1 has no value"
        );
    }

    #[test]
    fn when_an_authentication_template_is_filled_should_repeat_the_code_on_the_otp_button() {
        let message = json!({"name": "login_code", "language": {"code": "en_US"}, "components": [
            {"type": "BODY", "parameters": [{"type": "text", "text": "J$FpnYnP"}]}]});
        let filled = fill(message, "login_code").unwrap();
        assert_eq!(
            filled.cloud_api_template(),
            json!({"name": "login_code", "language": {"code": "en_US"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "J$FpnYnP"}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "J$FpnYnP"}]}
            ]})
        );
        assert_eq!(filled.preview_text(), "*J$FpnYnP* is your verification code.\nThis code expires in 10 minutes.");
        // Given again Cloud-API style, the button's code is accepted.
        let cloud_style = json!({"name": "login_code", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "J$FpnYnP"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "J$FpnYnP"}]}]});
        assert_eq!(fill(cloud_style, "login_code").unwrap(), filled);
    }

    // --- sending: named ------------------------------------------------------------------------

    #[test]
    fn when_a_named_message_is_checked_should_send_parameter_names() {
        // GIVEN the message a client sends for spring_sale (image header, named body, URL button)
        let message = spring_sale(spring_sale_components());
        // WHEN it is checked
        let filled = fill(message, "spring_sale").unwrap();
        // THEN the body values carry their names, the header its link and the button its suffix
        assert_eq!(
            filled.cloud_api_template(),
            json!({"name": "spring_sale", "language": {"code": "en"}, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": SALE_IMAGE}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "parameter_name": "first_name", "text": "Ann"},
                    {"type": "text", "parameter_name": "discount", "text": "30%"}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "ann-30"}]}
            ]})
        );
        assert_eq!(filled.preview_text(), "Hi Ann, our spring sale is on: 30% off everything!\nReply STOP to opt out");
    }

    #[test]
    fn when_named_values_come_in_another_order_should_send_them_in_the_template_order() {
        let message = spring_sale(json!([
            {"type": "HEADER", "parameters": [{"type": "image", "image": {"link": SALE_IMAGE}}]},
            {"type": "BODY", "parameters": [
                {"type": "text", "parameter_name": "discount", "text": "30%"},
                {"type": "text", "parameter_name": "first_name", "text": "Ann"}]},
            {"type": "BUTTONS", "buttons": [{"index": 0, "sub_type": "url", "parameters": [{"type": "text", "text": "ann-30"}]}]}
        ]));
        assert_eq!(
            fill(message, "spring_sale").unwrap(),
            fill(spring_sale(spring_sale_components()), "spring_sale").unwrap()
        );
    }

    #[test]
    fn when_buttons_come_in_other_shapes_should_read_them_alike() {
        let expected = fill(spring_sale(spring_sale_components()), "spring_sale").unwrap();
        let header = json!({"type": "HEADER", "parameters": [{"type": "image", "image": {"link": SALE_IMAGE}}]});
        let body = spring_sale_components()[1].clone();
        for buttons in [
            // Cloud-API-style component, index as a string
            json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "ann-30"}]}),
            // BUTTONS with its list under `parameters`, the value inline
            json!({"type": "BUTTONS", "parameters": [{"index": 0, "type": "url", "text": "ann-30"}]}),
            // no sub_type at all
            json!({"type": "BUTTONS", "buttons": [{"index": "0", "parameters": [{"type": "text", "text": "ann-30"}]}]}),
        ] {
            let message = spring_sale(json!([header, body, buttons]));
            assert_eq!(fill(message, "spring_sale").unwrap(), expected, "{buttons}");
        }
    }

    #[test]
    fn when_the_document_header_has_a_filename_should_keep_it() {
        let mut components = graph_page()["data"][1]["components"].clone();
        components.as_array_mut().unwrap().insert(0, json!({"type": "HEADER", "format": "DOCUMENT"}));
        let invoice = select_for_sync(vec![remote("invoice", "en", components)]).templates.remove(0);
        assert_eq!(invoice.header_media, Some(HeaderMedia::Document));
        let message = json!({"name": "invoice", "language": {"code": "en"}, "components": [
            {"type": "HEADER", "parameters": [{"type": "document", "document": {"link": "https://cdn.example.com/i.pdf", "filename": "invoice.pdf"}}]},
            {"type": "BODY", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]});
        let filled = TemplateMessage::parse(&message.to_string()).unwrap().check_against(&invoice).unwrap();
        assert_eq!(
            filled.cloud_api_template()["components"][0],
            json!({"type": "header", "parameters": [{"type": "document", "document": {"link": "https://cdn.example.com/i.pdf", "filename": "invoice.pdf"}}]})
        );
        assert_eq!(filled.preview_text(), "Hello Ann, your order 42 ships today.\nThanks for shopping with Acme");
    }

    #[test]
    fn when_a_template_has_no_variables_should_send_no_components() {
        let plain = select_for_sync(vec![remote("hello_world", "en_US", body("Hello World"))]).templates.remove(0);
        let message = json!({"name": "hello_world", "language": {"code": "en_US"}});
        let filled = TemplateMessage::parse(&message.to_string()).unwrap().check_against(&plain).unwrap();
        assert_eq!(filled.cloud_api_template(), json!({"name": "hello_world", "language": {"code": "en_US"}}));
        assert_eq!(filled.preview_text(), "Hello World");
    }

    // --- refusals ------------------------------------------------------------------------------

    #[test]
    fn when_a_variable_has_no_value_should_name_it() {
        let err = fill(order_update(json!([{"type": "text", "text": "Ann"}])), "order_update").unwrap_err();
        assert_eq!(
            err,
            TemplateError::MissingValue { component: VariableComponent::Body, placeholder: "{{2}}".into() }
        );
        assert_eq!(err.to_string(), "variable {{2}} of the body has no value");
        assert_eq!(err.field(), "whatsapp_msg_param");
        // empty or blank values are no values
        let err = fill(
            order_update(json!([{"type": "text", "text": "Ann"}, {"type": "text", "text": "  "}])),
            "order_update",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "variable {{2}} of the body has no value");
        let err =
            fill(order_update(json!([{"type": "text"}, {"type": "text", "text": "42"}])), "order_update").unwrap_err();
        assert_eq!(err.to_string(), "variable {{1}} of the body has no value");
        // a named one, and a button one
        let mut components = spring_sale_components();
        components[1]["parameters"].as_array_mut().unwrap().remove(1);
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "variable {{discount}} of the body has no value"
        );
        let mut components = spring_sale_components();
        components.as_array_mut().unwrap().remove(2);
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "variable {{1}} of button 0 has no value"
        );
    }

    #[test]
    fn when_a_value_has_no_variable_should_refuse_it() {
        let three =
            json!([{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}, {"type": "text", "text": "x"}]);
        let err = fill(order_update(three), "order_update").unwrap_err();
        assert_eq!(err, TemplateError::ExtraValue { component: VariableComponent::Body, value: "value #3".into() });
        assert_eq!(err.to_string(), "the body has no variable for value #3; remove it");

        let mut components = spring_sale_components();
        components[1]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "text", "parameter_name": "coupon", "text": "X"}));
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "the body has no variable for {{coupon}}; remove it"
        );

        // a header value on a template whose header takes none
        let message = json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
            {"type": "HEADER", "parameters": [{"type": "text", "text": "Hi"}]},
            {"type": "BODY", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]});
        assert_eq!(
            fill(message, "order_update").unwrap_err().to_string(),
            "the header has no variable for value #1; remove it"
        );

        // a value for a button the template does not have, or for one without variables
        let mut components = spring_sale_components();
        components[2]["buttons"]
            .as_array_mut()
            .unwrap()
            .push(json!({"index": 5, "parameters": [{"type": "text", "text": "x"}]}));
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err(),
            TemplateError::ExtraValue { component: VariableComponent::Button { index: 5 }, value: "value #1".into() }
        );
        let message = json!({"name": "pickup_ready", "language": {"code": "en_GB"}, "components": [
            {"type": "HEADER", "parameters": [{"type": "location", "location": {"latitude": 1, "longitude": 2}}]},
            {"type": "BODY", "parameters": [{"type": "text", "text": "Mark"}, {"type": "text", "text": "1"}]},
            {"type": "BUTTONS", "buttons": [{"index": 0, "sub_type": "phone_number", "parameters": [{"type": "text", "text": "x"}]}]}]});
        assert_eq!(
            fill(message, "pickup_ready").unwrap_err().to_string(),
            "button 0 has no variable for value #1; remove it"
        );
        // two header media
        let mut components = spring_sale_components();
        components[0]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "image", "image": {"link": SALE_IMAGE}}));
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "the header has no variable for value #2; remove it"
        );
    }

    #[test]
    fn when_a_named_value_is_given_twice_or_without_a_name_should_refuse_it() {
        let mut components = spring_sale_components();
        components[1]["parameters"][1]["parameter_name"] = json!("first_name");
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "variable {{first_name}} of the body has two values"
        );
        let mut components = spring_sale_components();
        components[1]["parameters"][0].as_object_mut().unwrap().remove("parameter_name");
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "value #1 of the body needs a parameter_name: template spring_sale uses named variables"
        );
    }

    #[test]
    fn when_the_message_names_another_template_or_language_should_refuse_it() {
        let values = json!([{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]);
        let stored = template("order_update");
        let check = |change: &dyn Fn(&mut Value)| {
            let mut message = order_update(values.clone());
            change(&mut message);
            TemplateMessage::parse(&message.to_string()).unwrap().check_against(&stored).unwrap_err()
        };
        let err = check(&|m| m["name"] = json!("order_updates"));
        assert_eq!(
            err,
            TemplateError::TemplateMismatch {
                field: "name",
                given: "order_updates".into(),
                stored: "order_update".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "whatsapp_msg_param gives name \"order_updates\" but the synchronised template has \"order_update\""
        );
        assert_eq!(
            check(&|m| m["language"] = json!({"code": "en"})).to_string(),
            "whatsapp_msg_param gives language \"en\" but the synchronised template has \"en_US\""
        );
        assert!(matches!(
            check(&|m| m["template_id"] = json!("1")),
            TemplateError::TemplateMismatch { field: "template_id", .. }
        ));
        assert!(matches!(
            check(&|m| m["parameter_format"] = json!("NAMED")),
            TemplateError::TemplateMismatch { field: "parameter_format", .. }
        ));
    }

    #[test]
    fn when_the_template_is_not_synchronised_should_say_so() {
        let message = json!({"name": "order_update", "language": {"code": "fr"}});
        let err = TemplateMessage::parse(&message.to_string()).unwrap().find_in(&synced()).unwrap_err();
        assert_eq!(err, TemplateError::NotSynchronised { name: "order_update".into(), language: "fr".into() });
        assert_eq!(
            err.to_string(),
            "template order_update (fr) is not synchronised on this channel: pick one listed by \
             message_channel/whatsapp_template, or refresh the channel's templates"
        );
        assert_eq!(err.field(), "whatsapp_msg_param");
        // by template_id when given
        let by_id = json!({"template_id": "2017410385331820", "name": "x", "language": {"code": "en"}});
        assert_eq!(TemplateMessage::parse(&by_id.to_string()).unwrap().find_in(&synced()).unwrap().name, "spring_sale");
    }

    #[test]
    fn when_the_media_header_has_no_link_should_show_the_expected_parameter() {
        for header in [
            json!([]),
            json!([{"type": "image", "image": {"id": "1234567890"}}]),
            json!([{"type": "image", "image": {"link": " "}}]),
        ] {
            let mut components = spring_sale_components();
            components[0]["parameters"] = header.clone();
            let err = fill(spring_sale(components), "spring_sale").unwrap_err();
            assert_eq!(
                err,
                TemplateError::MissingHeaderMedia { template: "spring_sale".into(), kind: HeaderMedia::Image },
                "{header}"
            );
            assert_eq!(
                err.to_string(),
                r#"template spring_sale has an image header: give HEADER the parameter {"type":"image","image":{"link":"https://.."}}"#
            );
        }
        let mut components = spring_sale_components();
        components.as_array_mut().unwrap().remove(0);
        assert!(matches!(fill(spring_sale(components), "spring_sale"), Err(TemplateError::MissingHeaderMedia { .. })));
        let message = json!({"name": "pickup_ready", "language": {"code": "en_GB"}, "components": [
            {"type": "BODY", "parameters": [{"type": "text", "text": "Mark"}, {"type": "text", "text": "1"}]}]});
        assert_eq!(
            fill(message, "pickup_ready").unwrap_err().to_string(),
            r#"template pickup_ready has a location header: give HEADER the parameter {"type":"location","location":{"latitude":"..","longitude":"..","name":"..","address":".."}}"#
        );
    }

    #[test]
    fn when_the_media_link_is_not_https_should_refuse_it() {
        for link in [
            "http://cdn.example.com/spring.jpg",
            "ftp://cdn.example.com/a.jpg",
            "https://",
            "https:// cdn.example.com/a.jpg",
            "spring.jpg",
        ] {
            let mut components = spring_sale_components();
            components[0]["parameters"][0]["image"]["link"] = json!(link);
            let err = fill(spring_sale(components), "spring_sale").unwrap_err();
            assert_eq!(err, TemplateError::InsecureMediaLink { kind: HeaderMedia::Image, link: link.into() }, "{link}");
        }
        let mut components = spring_sale_components();
        components[0]["parameters"][0]["image"]["link"] = json!("http://cdn.example.com/spring.jpg");
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "the header image link must be an https URL, got \"http://cdn.example.com/spring.jpg\""
        );
        let mut components = spring_sale_components();
        components[0]["parameters"][0]["image"]["link"] = json!(" HTTPS://CDN.example.com/spring.jpg?v=2 ");
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap().cloud_api_template()["components"][0]["parameters"],
            json!([{"type": "image", "image": {"link": "HTTPS://CDN.example.com/spring.jpg?v=2"}}])
        );
    }

    #[test]
    fn when_the_header_media_is_of_the_wrong_kind_should_refuse_it() {
        let mut components = spring_sale_components();
        components[0]["parameters"] = json!([{"type": "video", "video": {"link": "https://cdn.example.com/v.mp4"}}]);
        let err = fill(spring_sale(components), "spring_sale").unwrap_err();
        assert_eq!(err.to_string(), "the header takes an image parameter, not a video parameter");
        let mut components = spring_sale_components();
        components[0]["parameters"] = json!([{"type": "text", "text": SALE_IMAGE}]);
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "the header takes an image parameter, not a text parameter"
        );
        // an image where text is expected
        let err = fill(
            order_update(json!([{"type": "image", "image": {"link": SALE_IMAGE}}, {"type": "text", "text": "42"}])),
            "order_update",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "the body takes a text parameter, not an image parameter");
        // a quick reply takes a payload
        let mut components = spring_sale_components();
        components[2]["buttons"]
            .as_array_mut()
            .unwrap()
            .push(json!({"index": 1, "parameters": [{"type": "text", "text": "x"}]}));
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "button 1 takes a payload parameter, not a text parameter"
        );
        // a button entry for another kind of button
        let mut components = spring_sale_components();
        components[2]["buttons"][0]["sub_type"] = json!("copy_code");
        assert_eq!(
            fill(spring_sale(components), "spring_sale").unwrap_err().to_string(),
            "button 0 takes a url button entry, not a copy_code button entry"
        );
    }

    #[test]
    fn when_the_location_is_unusable_should_refuse_it() {
        for location in [
            json!({"latitude": "91", "longitude": "0"}),
            json!({"latitude": "51.5"}),
            json!({"latitude": "north", "longitude": "0"}),
        ] {
            let message = json!({"name": "pickup_ready", "language": {"code": "en_GB"}, "components": [
                {"type": "HEADER", "parameters": [{"type": "location", "location": location}]},
                {"type": "BODY", "parameters": [{"type": "text", "text": "Mark"}, {"type": "text", "text": "1"}]}]});
            assert!(matches!(fill(message, "pickup_ready"), Err(TemplateError::InvalidLocation(_))), "{location}");
        }
        let message = json!({"name": "pickup_ready", "language": {"code": "en_GB"}, "components": [
            {"type": "HEADER", "parameters": [{"type": "location", "location": {"latitude": "91"}}]},
            {"type": "BODY", "parameters": [{"type": "text", "text": "Mark"}, {"type": "text", "text": "1"}]}]});
        assert_eq!(
            fill(message, "pickup_ready").unwrap_err().to_string(),
            "the header location needs a latitude (-90 to 90) and a longitude (-180 to 180), got latitude \"91\" and \
             longitude none"
        );
    }

    #[test]
    fn when_whatsapp_msg_param_is_not_a_template_message_should_say_what_is_wrong() {
        let err = TemplateMessage::parse("{\"name\": ").unwrap_err();
        assert!(matches!(err, TemplateError::InvalidJson(_)), "{err}");
        assert!(err.to_string().starts_with("whatsapp_msg_param is not valid JSON: "), "{err}");
        assert_eq!(err.field(), "whatsapp_msg_param");
        let cases = [
            (json!([1]), "it must be a JSON object"),
            (json!({"language": {"code": "en"}}), "`name` (the template name) is missing"),
            (json!({"name": "t"}), "`language.code` is missing"),
            (json!({"name": "t", "language": {"code": ""}}), "`language.code` is missing"),
            (json!({"name": "t", "language": {"code": "en"}, "id": "abc"}), "`id` must be an integer"),
            (
                json!({"name": "t", "language": {"code": "en"}, "parameter_format": "MIXED"}),
                "`parameter_format` \"MIXED\" is neither POSITIONAL nor NAMED",
            ),
            (json!({"name": "t", "language": {"code": "en"}, "components": {}}), "`components` must be an array"),
            (
                json!({"name": "t", "language": {"code": "en"}, "components": [{"parameters": []}]}),
                "components[0] has no type",
            ),
            (
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "CAROUSEL"}]}),
                "components[0] has type \"CAROUSEL\"; expected HEADER, BODY, FOOTER or BUTTONS",
            ),
            (
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "BODY"}, {"type": "BODY"}]}),
                "two BODY components",
            ),
            (
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "BODY", "parameters": [{"text": "x"}]}]}),
                "value #1 of the body has no type",
            ),
            (
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "BODY", "parameters": [{"type": "sticker"}]}]}),
                "value #1 of the body has type \"sticker\"; expected text, currency, date_time, image, video, document, location, coupon_code or payload",
            ),
            (
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "BODY", "parameters": [{"type": "currency"}]}]}),
                "value #1 of the body of type currency needs a `currency` object",
            ),
            (
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "BUTTONS", "buttons": [{"sub_type": "url"}]}]}),
                "each button entry needs an `index` (the button's position, from 0)",
            ),
            (
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "FOOTER", "parameters": [{"type": "text", "text": "x"}]}]}),
                "the footer takes no parameters",
            ),
        ];
        for (message, detail) in cases {
            assert_eq!(
                TemplateMessage::parse(&message.to_string()).unwrap_err(),
                TemplateError::InvalidMessage(detail.into()),
                "{message}"
            );
        }
        // Yeastar's example shape parses; language may also be a bare code
        let example = r#"{"id":"579","template_id":1617698099069106,"name":"template202501","language":"en",
            "parameter_format":"positional","components":[]}"#;
        let parsed = TemplateMessage::parse(example).unwrap();
        assert_eq!(parsed.id, Some(579));
        assert_eq!(parsed.template_id.as_deref(), Some("1617698099069106"));
        assert_eq!(parsed.language, "en");
        assert_eq!(parsed.parameter_format, Some(ParameterFormat::Positional));
    }

    #[test]
    fn when_the_stored_template_was_altered_should_report_it_unusable() {
        let mut stored = template("order_update");
        stored.components = json!([{"type": "BODY", "text": "Hello {{Name}}"}]);
        let message = order_update(json!([{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]));
        let err = TemplateMessage::parse(&message.to_string()).unwrap().check_against(&stored).unwrap_err();
        assert!(matches!(err, TemplateError::UnusableTemplate { .. }), "{err}");
        assert!(err.to_string().ends_with("refresh the channel's templates"), "{err}");
    }
}
