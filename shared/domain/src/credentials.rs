//! Provider credentials: one typed set per provider, the `account_data` keys each provider takes
//! (seed 004 L44-82 for SMS, L114-134 WhatsApp, L166-184 Facebook), and the one codec between the
//! typed sets and their key/value form, used by the admin API (values arrive Base64-encoded, are
//! masked on every read) and by storage (the decoded values).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::channel::{Provider, ProviderUrl};
use crate::secret::Secret;

/// How a key travels and is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Base64 on the wire (seed 004 L81); masked on every read.
    Secret,
    /// Base64 on the wire; an identifier (account id, user name), masked on read all the same.
    EncodedId,
    /// A provider URL (`api_send_url`, `api_verify_url`): plain on the wire, shown on read.
    Url,
    /// Plain text on the wire, shown on read (Facebook `page_name`, WhatsApp `phone_number_id`).
    Text,
}

/// One `account_data` key of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Key name (`k`).
    pub name: &'static str,
    /// How it travels and is shown.
    pub kind: KeyKind,
    /// Whether the channel cannot work without it.
    pub required: bool,
}

const fn key(name: &'static str, kind: KeyKind, required: bool) -> KeySpec {
    KeySpec { name, kind, required }
}

const GENERAL_KEYS: &[KeySpec] = &[
    key("api_key", KeyKind::Secret, true),
    key("api_secret", KeyKind::Secret, false),
    key("api_verify_url", KeyKind::Url, false),
    key("api_send_url", KeyKind::Url, true),
];
const APIDAZE_KEYS: &[KeySpec] = &[key("api_key", KeyKind::EncodedId, true), key("api_secret", KeyKind::Secret, true)];
const BANDWIDTH_KEYS: &[KeySpec] = &[
    key("application_id", KeyKind::EncodedId, true),
    key("account_id", KeyKind::EncodedId, true),
    key("username", KeyKind::EncodedId, true),
    key("password", KeyKind::Secret, true),
];
const ACCESS_SECRET_KEYS: &[KeySpec] =
    &[key("access_key", KeyKind::EncodedId, true), key("secret_key", KeyKind::Secret, true)];
const SKYETEL_KEYS: &[KeySpec] = &[key("sid_key", KeyKind::EncodedId, true), key("secret_key", KeyKind::Secret, true)];
const TELNYX_KEYS: &[KeySpec] = &[key("api_key", KeyKind::Secret, true), key("public_key", KeyKind::EncodedId, true)];
const TWILIO_KEYS: &[KeySpec] =
    &[key("account_sid", KeyKind::EncodedId, true), key("auth_token", KeyKind::Secret, true)];
const VOICEMEUP_KEYS: &[KeySpec] =
    &[key("username", KeyKind::EncodedId, true), key("auth_token", KeyKind::Secret, true)];
const WHATSAPP_KEYS: &[KeySpec] =
    &[key("access_token", KeyKind::Secret, true), key("app_secret", KeyKind::Secret, true)];
const FACEBOOK_KEYS: &[KeySpec] = &[
    key("access_token", KeyKind::Secret, true),
    key("app_secret", KeyKind::Secret, true),
    key("page_name", KeyKind::Text, false),
];

/// The `account_data` keys `provider` takes.
pub fn account_keys(provider: Provider) -> &'static [KeySpec] {
    match provider {
        Provider::General | Provider::Athena | Provider::Ixica | Provider::Vetta | Provider::VoipMs => GENERAL_KEYS,
        Provider::Apidaze => APIDAZE_KEYS,
        Provider::Bandwidth => BANDWIDTH_KEYS,
        Provider::Flowroute | Provider::Siptrunk => ACCESS_SECRET_KEYS,
        Provider::Skyetel => SKYETEL_KEYS,
        Provider::Telnyx => TELNYX_KEYS,
        Provider::Twilio => TWILIO_KEYS,
        Provider::VoiceMeUp => VOICEMEUP_KEYS,
        Provider::WhatsApp => WHATSAPP_KEYS,
        Provider::Facebook => FACEBOOK_KEYS,
    }
}

/// Credentials of a provider speaking Yeastar's "General SMS API" contract (General, and the
/// providers seed 004 configures the same way: athena, IXICA, Vetta, VoIP.ms).
#[derive(Debug, Clone)]
pub struct GeneralCredentials {
    /// Sent as `Authorization: Bearer {api_key}` on every provider call.
    pub api_key: Secret,
    /// Key of the webhook HMAC (`X-Signature-256`); when absent the URL token alone protects
    /// the webhook (seed 001 L6527: without a Secret the PBX does not check signatures).
    pub api_secret: Option<Secret>,
    /// Connectivity check address (`GET {url}?challenge=...`), optional.
    pub verify_url: Option<ProviderUrl>,
    /// Send address (`POST {url}`).
    pub send_url: ProviderUrl,
}

/// A key pair of the "id + secret" shape (Apidaze, Flowroute, SIPTRUNK, Skyetel, VoiceMeUp,
/// Twilio): `id` names the account or key, `secret` authenticates it.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// Account SID, access key, SID key, user name or API key.
    pub id: String,
    /// Auth token, secret key or API secret.
    pub secret: Secret,
}

/// Bandwidth Messaging v2 (seed 004 L56-60).
#[derive(Debug, Clone)]
pub struct BandwidthCredentials {
    /// Messaging application (`applicationId` of every send).
    pub application_id: String,
    /// Account id (path of the send URL).
    pub account_id: String,
    /// API user name (HTTP Basic, also the callback credentials we require).
    pub username: String,
    /// API password.
    pub password: Secret,
}

/// Telnyx (seed 004 L67-69): the API key sends, the account's ed25519 public key verifies.
#[derive(Debug, Clone)]
pub struct TelnyxCredentials {
    /// `Authorization: Bearer`.
    pub api_key: Secret,
    /// The public key as Telnyx shows it (Base64 of 32 bytes).
    pub public_key: String,
}

/// A Meta app's channel credentials (WhatsApp Cloud API, Messenger).
#[derive(Debug, Clone)]
pub struct MetaCredentials {
    /// System-user (WhatsApp) or Page (Messenger) access token.
    pub access_token: Secret,
    /// Key of `X-Hub-Signature-256`.
    pub app_secret: Secret,
    /// The token Meta echoes in the `hub.verify_token` handshake; generated by us.
    pub verify_token: Secret,
}

/// WhatsApp Cloud API channel.
#[derive(Debug, Clone)]
pub struct WhatsAppCredentials {
    /// Tokens.
    pub meta: MetaCredentials,
    /// The phone number's Graph id (≤ 31 characters, seed 004 L119-120).
    pub phone_number_id: String,
    /// WhatsApp Business Account id (templates are synchronised by it).
    pub business_account_id: String,
}

/// Facebook Messenger channel (the page id is the channel's number).
#[derive(Debug, Clone)]
pub struct FacebookCredentials {
    /// Tokens.
    pub meta: MetaCredentials,
    /// Page name, for display.
    pub page_name: Option<String>,
}

/// A channel's provider credentials.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// General SMS API and the providers configured like it (`flavor`).
    General {
        /// general / athena / ixica / vetta / voipms.
        flavor: Provider,
        /// The keys.
        creds: GeneralCredentials,
    },
    /// Apidaze: API key + secret, and the text that must accompany a file (seed 004 L43-44).
    Apidaze {
        /// Keys.
        keys: KeyPair,
        /// `accompanying_msg`.
        accompanying_text: String,
    },
    /// Bandwidth.
    Bandwidth(BandwidthCredentials),
    /// Flowroute: access key + secret key.
    Flowroute(KeyPair),
    /// SIPTRUNK: access key + secret key.
    Siptrunk(KeyPair),
    /// Skyetel: SID key + secret key.
    Skyetel(KeyPair),
    /// Telnyx.
    Telnyx(TelnyxCredentials),
    /// Twilio: account SID + auth token.
    Twilio(KeyPair),
    /// VoiceMeUp: user name + auth token.
    VoiceMeUp(KeyPair),
    /// WhatsApp Cloud API.
    WhatsApp(WhatsAppCredentials),
    /// Facebook Messenger.
    Facebook(FacebookCredentials),
}

/// A key that is missing or wrong, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// The key (`k`), or `account_data` for the set as a whole.
    pub key: String,
    /// Machine code: `required`, `format`, `enum`.
    pub code: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

fn problem(key: &str, code: &'static str, message: impl Into<String>) -> KeyProblem {
    KeyProblem { key: key.to_owned(), code, message: message.into() }
}

/// Decoded key values (`k` → decoded text).
pub type KeyValues = BTreeMap<String, String>;

impl Credentials {
    /// The provider these credentials belong to.
    pub fn provider(&self) -> Provider {
        match self {
            Credentials::General { flavor, .. } => *flavor,
            Credentials::Apidaze { .. } => Provider::Apidaze,
            Credentials::Bandwidth(_) => Provider::Bandwidth,
            Credentials::Flowroute(_) => Provider::Flowroute,
            Credentials::Siptrunk(_) => Provider::Siptrunk,
            Credentials::Skyetel(_) => Provider::Skyetel,
            Credentials::Telnyx(_) => Provider::Telnyx,
            Credentials::Twilio(_) => Provider::Twilio,
            Credentials::VoiceMeUp(_) => Provider::VoiceMeUp,
            Credentials::WhatsApp(_) => Provider::WhatsApp,
            Credentials::Facebook(_) => Provider::Facebook,
        }
    }

    /// The Meta tokens of a WhatsApp or Messenger channel.
    pub fn meta(&self) -> Option<&MetaCredentials> {
        match self {
            Credentials::WhatsApp(w) => Some(&w.meta),
            Credentials::Facebook(f) => Some(&f.meta),
            _ => None,
        }
    }

    /// Builds typed credentials from decoded key values. Every problem is reported, not just
    /// the first. Meta channels also need `verify_token` (generated by the admin service) and
    /// WhatsApp `phone_number_id` and `business_account_id` (top-level fields in seed 004).
    pub fn from_values(provider: Provider, values: &KeyValues) -> Result<Self, Vec<KeyProblem>> {
        let mut problems = Vec::new();
        for spec in account_keys(provider) {
            match values.get(spec.name) {
                Some(v) if v.trim().is_empty() => problems.push(problem(spec.name, "required", "must not be empty")),
                None if spec.required => {
                    problems.push(problem(spec.name, "required", format!("{} is required", spec.name)));
                }
                _ => {}
            }
        }
        let text = |k: &str| values.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let secret = |k: &str| text(k).map(Secret::new);
        let url = |k: &str, problems: &mut Vec<KeyProblem>| {
            text(k).and_then(|v| match ProviderUrl::from_stored(&v) {
                Ok(u) => Some(u),
                Err(msg) => {
                    problems.push(problem(k, "format", format!("{k} {msg}")));
                    None
                }
            })
        };
        let pair = |id: &str, secret_key: &str| Some(KeyPair { id: text(id)?, secret: secret(secret_key)? });
        let built = match provider {
            Provider::General | Provider::Athena | Provider::Ixica | Provider::Vetta | Provider::VoipMs => {
                let verify_url = url("api_verify_url", &mut problems);
                let send_url = url("api_send_url", &mut problems);
                (|| {
                    Some(Credentials::General {
                        flavor: provider,
                        creds: GeneralCredentials {
                            api_key: secret("api_key")?,
                            api_secret: secret("api_secret"),
                            verify_url,
                            send_url: send_url?,
                        },
                    })
                })()
            }
            Provider::Apidaze => {
                let accompanying_text = text("accompanying_msg");
                if accompanying_text.is_none() {
                    problems.push(problem(
                        "accompanying_msg",
                        "required",
                        "accompanying_msg is required for Apidaze (the text sent with every file)",
                    ));
                }
                (|| {
                    Some(Credentials::Apidaze {
                        keys: pair("api_key", "api_secret")?,
                        accompanying_text: accompanying_text?,
                    })
                })()
            }
            Provider::Bandwidth => (|| {
                Some(Credentials::Bandwidth(BandwidthCredentials {
                    application_id: text("application_id")?,
                    account_id: text("account_id")?,
                    username: text("username")?,
                    password: secret("password")?,
                }))
            })(),
            Provider::Flowroute => pair("access_key", "secret_key").map(Credentials::Flowroute),
            Provider::Siptrunk => pair("access_key", "secret_key").map(Credentials::Siptrunk),
            Provider::Skyetel => pair("sid_key", "secret_key").map(Credentials::Skyetel),
            Provider::Twilio => {
                if let Some(sid) = text("account_sid")
                    && !is_twilio_account_sid(&sid)
                {
                    problems.push(problem(
                        "account_sid",
                        "format",
                        "account_sid must be 'AC' followed by 32 hex characters",
                    ));
                }
                pair("account_sid", "auth_token").map(Credentials::Twilio)
            }
            Provider::VoiceMeUp => pair("username", "auth_token").map(Credentials::VoiceMeUp),
            Provider::Telnyx => {
                if let Some(key) = text("public_key")
                    && STANDARD.decode(key.as_bytes()).map(|b| b.len()) != Ok(32)
                {
                    problems.push(problem(
                        "public_key",
                        "format",
                        "public_key must be the Base64 public key Telnyx shows (32 bytes once decoded)",
                    ));
                }
                (|| {
                    Some(Credentials::Telnyx(TelnyxCredentials {
                        api_key: secret("api_key")?,
                        public_key: text("public_key")?,
                    }))
                })()
            }
            Provider::WhatsApp => {
                let meta = meta_credentials(values, &mut problems);
                let phone_number_id = text("phone_number_id");
                match &phone_number_id {
                    None => problems.push(problem("phone_number_id", "required", "phone_number_id is required")),
                    Some(id) if id.chars().count() > 31 => {
                        problems.push(problem(
                            "phone_number_id",
                            "length",
                            "phone_number_id must not exceed 31 characters",
                        ));
                    }
                    Some(_) => {}
                }
                let business_account_id = text("business_account_id");
                match &business_account_id {
                    None => {
                        problems.push(problem("business_account_id", "required", "business_account_id is required"))
                    }
                    Some(id) if id.chars().count() > 500 => problems.push(problem(
                        "business_account_id",
                        "length",
                        "business_account_id must not exceed 500 characters",
                    )),
                    Some(_) => {}
                }
                (|| {
                    Some(Credentials::WhatsApp(WhatsAppCredentials {
                        meta: meta?,
                        phone_number_id: phone_number_id?,
                        business_account_id: business_account_id?,
                    }))
                })()
            }
            Provider::Facebook => {
                let meta = meta_credentials(values, &mut problems);
                meta.map(|meta| Credentials::Facebook(FacebookCredentials { meta, page_name: text("page_name") }))
            }
        };
        match built {
            Some(c) if problems.is_empty() => Ok(c),
            _ => {
                if problems.is_empty() {
                    problems.push(problem("account_data", "required", "the provider's keys are incomplete"));
                }
                Err(problems)
            }
        }
    }

    /// The decoded key values (secrets exposed): what storage keeps. Round-trips through
    /// [`Credentials::from_values`].
    pub fn to_values(&self) -> KeyValues {
        let mut v = KeyValues::new();
        let mut put = |k: &str, value: &str| {
            v.insert(k.to_owned(), value.to_owned());
        };
        match self {
            Credentials::General { creds, .. } => {
                put("api_key", creds.api_key.expose());
                if let Some(s) = &creds.api_secret {
                    put("api_secret", s.expose());
                }
                if let Some(u) = &creds.verify_url {
                    put("api_verify_url", u.as_str());
                }
                put("api_send_url", creds.send_url.as_str());
            }
            Credentials::Apidaze { keys, accompanying_text } => {
                put("api_key", &keys.id);
                put("api_secret", keys.secret.expose());
                put("accompanying_msg", accompanying_text);
            }
            Credentials::Bandwidth(b) => {
                put("application_id", &b.application_id);
                put("account_id", &b.account_id);
                put("username", &b.username);
                put("password", b.password.expose());
            }
            Credentials::Flowroute(k) | Credentials::Siptrunk(k) => {
                put("access_key", &k.id);
                put("secret_key", k.secret.expose());
            }
            Credentials::Skyetel(k) => {
                put("sid_key", &k.id);
                put("secret_key", k.secret.expose());
            }
            Credentials::Twilio(k) => {
                put("account_sid", &k.id);
                put("auth_token", k.secret.expose());
            }
            Credentials::VoiceMeUp(k) => {
                put("username", &k.id);
                put("auth_token", k.secret.expose());
            }
            Credentials::Telnyx(t) => {
                put("api_key", t.api_key.expose());
                put("public_key", &t.public_key);
            }
            Credentials::WhatsApp(w) => {
                put_meta(&mut put, &w.meta);
                put("phone_number_id", &w.phone_number_id);
                put("business_account_id", &w.business_account_id);
            }
            Credentials::Facebook(f) => {
                put_meta(&mut put, &f.meta);
                if let Some(name) = &f.page_name {
                    put("page_name", name);
                }
            }
        }
        v
    }

    /// The `account_data` list a read returns: every key the channel has, secrets and encoded
    /// ids masked, URLs and plain text shown.
    pub fn masked_account_data(&self, mask: &str) -> Vec<(String, String)> {
        let values = self.to_values();
        account_keys(self.provider())
            .iter()
            .filter_map(|spec| {
                let v = values.get(spec.name)?;
                let shown = match spec.kind {
                    KeyKind::Secret | KeyKind::EncodedId => mask.to_owned(),
                    KeyKind::Url | KeyKind::Text => v.clone(),
                };
                Some((spec.name.to_owned(), shown))
            })
            .collect()
    }

    /// The key that signs General-contract webhooks, if one is set.
    pub fn webhook_signing_secret(&self) -> Option<&Secret> {
        match self {
            Credentials::General { creds, .. } => creds.api_secret.as_ref(),
            _ => None,
        }
    }

    /// Where a newly generated Meta verify token goes (WhatsApp, Messenger).
    pub fn verify_token_mut(&mut self) -> Option<&mut Secret> {
        match self {
            Credentials::WhatsApp(w) => Some(&mut w.meta.verify_token),
            Credentials::Facebook(f) => Some(&mut f.meta.verify_token),
            _ => None,
        }
    }
}

fn put_meta(put: &mut impl FnMut(&str, &str), meta: &MetaCredentials) {
    put("access_token", meta.access_token.expose());
    put("app_secret", meta.app_secret.expose());
    put("verify_token", meta.verify_token.expose());
}

fn meta_credentials(values: &KeyValues, problems: &mut Vec<KeyProblem>) -> Option<MetaCredentials> {
    let get = |k: &str| values.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()).map(Secret::new);
    let verify_token = get("verify_token");
    if verify_token.is_none() {
        problems.push(problem("verify_token", "required", "verify_token is generated when the channel is created"));
    }
    Some(MetaCredentials {
        access_token: get("access_token")?,
        app_secret: get("app_secret")?,
        verify_token: verify_token?,
    })
}

/// `AC` followed by 32 hex characters.
fn is_twilio_account_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("AC") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A Meta verify token from 16 random bytes: 16 characters of `[a-z0-9]`, like the seed's
/// examples (`38owndego8ugcinx`, seed 001 L8905).
pub fn verify_token_from_random(bytes: [u8; 16]) -> Secret {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let text: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
    Secret::new(text)
}

/// Decodes a Base64 `account_data` value (seed 004 L81) into non-empty UTF-8 text.
pub fn decode_base64_text(v: &str) -> Result<String, &'static str> {
    let bytes = STANDARD.decode(v.trim()).map_err(|_| "must be Base64-encoded")?;
    let text = String::from_utf8(bytes).map_err(|_| "must decode to UTF-8 text")?;
    if text.is_empty() { Err("must not be empty") } else { Ok(text) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> KeyValues {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_provider_round_trips_through_its_values() {
        let sets: Vec<(Provider, KeyValues)> = vec![
            (
                Provider::General,
                values(&[("api_key", "k"), ("api_secret", "s"), ("api_send_url", "https://sp.example.com/send")]),
            ),
            (Provider::VoipMs, values(&[("api_key", "k"), ("api_send_url", "https://sp.example.com/send")])),
            (Provider::Apidaze, values(&[("api_key", "k"), ("api_secret", "s"), ("accompanying_msg", "Sent by us")])),
            (
                Provider::Bandwidth,
                values(&[("application_id", "a"), ("account_id", "9900000"), ("username", "u"), ("password", "p")]),
            ),
            (Provider::Flowroute, values(&[("access_key", "a"), ("secret_key", "s")])),
            (Provider::Siptrunk, values(&[("access_key", "a"), ("secret_key", "s")])),
            (Provider::Skyetel, values(&[("sid_key", "a"), ("secret_key", "s")])),
            (
                Provider::Telnyx,
                values(&[("api_key", "k"), ("public_key", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")]),
            ),
            (Provider::Twilio, values(&[("account_sid", &format!("AC{}", "0".repeat(32))), ("auth_token", "t")])),
            (Provider::VoiceMeUp, values(&[("username", "u"), ("auth_token", "t")])),
            (
                Provider::WhatsApp,
                values(&[
                    ("access_token", "t"),
                    ("app_secret", "s"),
                    ("verify_token", "v"),
                    ("phone_number_id", "106540352242922"),
                    ("business_account_id", "102290129340398"),
                ]),
            ),
            (
                Provider::Facebook,
                values(&[("access_token", "t"), ("app_secret", "s"), ("verify_token", "v"), ("page_name", "Acme")]),
            ),
        ];
        for (provider, v) in sets {
            let c = Credentials::from_values(provider, &v).unwrap_or_else(|e| panic!("{provider}: {e:?}"));
            assert_eq!(c.provider(), provider);
            assert_eq!(c.to_values(), v, "{provider}");
        }
    }

    #[test]
    fn missing_and_malformed_keys_are_each_reported() {
        let e = Credentials::from_values(Provider::Bandwidth, &values(&[("username", "u")])).unwrap_err();
        let keys: Vec<&str> = e.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, vec!["application_id", "account_id", "password"]);
        let e = Credentials::from_values(Provider::Twilio, &values(&[("account_sid", "nope"), ("auth_token", "t")]))
            .unwrap_err();
        assert_eq!(e[0].code, "format");
        let e = Credentials::from_values(Provider::Telnyx, &values(&[("api_key", "k"), ("public_key", "c2hvcnQ=")]))
            .unwrap_err();
        assert!(e[0].message.contains("32 bytes"), "{e:?}");
        let e =
            Credentials::from_values(Provider::Apidaze, &values(&[("api_key", "k"), ("api_secret", "s")])).unwrap_err();
        assert_eq!(e[0].key, "accompanying_msg");
        let long = "1".repeat(32);
        let e = Credentials::from_values(
            Provider::WhatsApp,
            &values(&[
                ("access_token", "t"),
                ("app_secret", "s"),
                ("verify_token", "v"),
                ("phone_number_id", &long),
                ("business_account_id", "1"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e[0].key, "phone_number_id");
    }

    #[test]
    fn reads_mask_secrets_and_ids_and_show_urls() {
        let c = Credentials::from_values(
            Provider::General,
            &values(&[("api_key", "k"), ("api_secret", "s"), ("api_send_url", "https://sp.example.com/send")]),
        )
        .unwrap();
        assert_eq!(
            c.masked_account_data("******"),
            vec![
                ("api_key".to_owned(), "******".to_owned()),
                ("api_secret".to_owned(), "******".to_owned()),
                ("api_send_url".to_owned(), "https://sp.example.com/send".to_owned()),
            ]
        );
    }

    #[test]
    fn verify_tokens_look_like_the_seeds() {
        let t = verify_token_from_random([7u8; 16]);
        assert_eq!(t.expose().len(), 16);
        assert!(t.expose().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }
}
