//! Channel health: the connectivity check a scheduled job makes for every channel, as data (the
//! request to send) and as a decision (what the answer means). The job itself (random bytes,
//! HTTP, storage, events) lives outside the domain.
//!
//! # General SMS API: the seed's challenge check
//!
//! Seed 001 (`../shared/seeds/001_9b2077a82501305e.txt`) L6545-6687; extraction in
//! `../shared/research/seed001-requirements.md` §1.4.3. The PBX "periodically" (L6554, no period
//! given: ambiguity A-4) sends `GET {api_verify_url}?challenge={random}` with
//! `Authorization: Bearer {api_key}` (L6573-6607; example challenge
//! `mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy`, L6603). The provider answers 200 with the challenge as the
//! body (L6613-6630), or an error `{"errors":[{"code","title","detail"}]}` (L6632-6655). The
//! channel status follows the seed's table (L6675-6687):
//!
//! | provider answer | [`ChannelHealth`] |
//! |---|---|
//! | 200 and the body is the challenge | `Connected` |
//! | 200 with any other body (challenge mismatch) | `Unauthorized` |
//! | 401, 403, 404 | `Unauthorized` |
//! | 500 | `ServiceUnavailable` |
//! | any other status with a PBX-format error body | `Unknown` |
//! | any other status with no body, or a body that is not a PBX-format error | `RequestFailed` |
//! | no HTTP response (TCP, DNS, TLS, timeout) | `RequestFailed` |
//!
//! Decisions where the seed is silent:
//! - **Echo framing.** The body matches when it equals the challenge once surrounding ASCII
//!   whitespace is trimmed (a trailing newline from `echo` or a framework is tolerated), or when it
//!   is a JSON string holding the challenge (L6611 asks providers to answer "in JSON format").
//!   Nothing else matches: no case folding, no challenge inside an object. The challenge is 32
//!   alphanumerics, so neither leniency can turn a wrong answer into a match.
//! - **Only 200 is success**, as written (L6618): a 201/204 falls to the "other status" rows.
//! - **Only 500 is "unavailable"**, as written (L6681): 502/503/504 fall to the "other status"
//!   rows (Unknown with a PBX-format error, else Request Failed, e.g. a proxy's HTML page).
//! - **PBX format** means a JSON object whose `errors` is a non-empty array of objects. JSON of any
//!   other shape counts as "not in JSON format" (Request Failed): the row is about answers from the
//!   provider's application, and a gateway's `{"message":"..."}` is not one.
//! - **403 (ambiguity A-8).** The check maps 403 to Unauthorized (L6680), while the send prompts map
//!   403 to "Recipient Platform Service Unavailable" (L6854). Each keeps its own table here.
//!
//! # Other providers: an authenticated read (our extension)
//!
//! The seeds define no check for the other providers. We make one cheap authenticated `GET` that
//! proves the stored credentials (table in [`health_check`]) and map its answer:
//!
//! | provider answer | [`ChannelHealth`] |
//! |---|---|
//! | 2xx | `Connected` |
//! | 401, 403 | `Unauthorized` |
//! | Meta only: a Graph error whose `code` is a token/permission code (0, 3, 10, 102, 190, 200-299), whatever the status (Graph answers 400 for an expired token) | `Unauthorized` |
//! | 5xx | `ServiceUnavailable` |
//! | any other status (404, 429, other 4xx, 1xx/3xx) | `Unknown` |
//! | no HTTP response | `RequestFailed` |
//!
//! # Publishing
//!
//! The job compares each result with the stored one ([`health_change`]) and publishes an event
//! only on a change.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::credentials::{Credentials, GeneralCredentials};
use crate::provider::{HttpMethod, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, path_segment};

/// How long a health check may take; a provider slower than this is treated as giving no response
/// (Request Failed).
pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The connectivity of a channel as the last health check found it (seed 001 L6675-6687).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelHealth {
    /// The provider proved it holds the channel's key (seed 001 L6628-6630).
    Connected,
    /// The provider refused the key, or echoed the wrong challenge (L6680).
    Unauthorized,
    /// The provider says its service is unavailable (HTTP 500, L6681).
    ServiceUnavailable,
    /// The provider answered with an error we cannot place (L6682).
    Unknown,
    /// No usable answer: no HTTP response, or no / a non-JSON body (L6683-6687).
    RequestFailed,
}

impl ChannelHealth {
    /// Every value.
    pub const ALL: [ChannelHealth; 5] = [
        ChannelHealth::Connected,
        ChannelHealth::Unauthorized,
        ChannelHealth::ServiceUnavailable,
        ChannelHealth::Unknown,
        ChannelHealth::RequestFailed,
    ];

    /// Stable wire name (also the serde form).
    /// From [`ChannelHealth::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelHealth::Connected => "connected",
            ChannelHealth::Unauthorized => "unauthorized",
            ChannelHealth::ServiceUnavailable => "service_unavailable",
            ChannelHealth::Unknown => "unknown",
            ChannelHealth::RequestFailed => "request_failed",
        }
    }

    /// The channel status text the seed shows (L6630, L6679-6687).
    pub fn label(self) -> &'static str {
        match self {
            ChannelHealth::Connected => "Connected",
            ChannelHealth::Unauthorized => "Unauthorized",
            ChannelHealth::ServiceUnavailable => "Services of the recipient platform are unavailable",
            ChannelHealth::Unknown => "Unknown",
            ChannelHealth::RequestFailed => "Request Failed",
        }
    }
}

/// Whether `current` differs from the previously recorded health, i.e. whether the job should
/// publish a change event. The first check of a channel (`previous` is `None`) is a change.
pub fn health_change(previous: Option<ChannelHealth>, current: ChannelHealth) -> bool {
    previous != Some(current)
}

/// A challenge for the General check from 24 random bytes: 32 alphanumeric characters, like the
/// seed's example `mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy` (seed 001 L6603).
///
/// The bytes are Base64url-encoded (24 bytes are exactly 32 characters, no padding); the two
/// non-alphanumeric symbols of that alphabet, `-` and `_`, become `0` and `1`, so the text stays
/// alphanumeric. That skews two of 64 symbols and leaves about 190 of the 192 bits: far more
/// than a value that only has to be unguessable for one request needs.
pub fn challenge_from_random(bytes: [u8; 24]) -> String {
    URL_SAFE_NO_PAD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '-' => '0',
            '_' => '1',
            other => other,
        })
        .collect()
}

/// What a health-check answer is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expectation {
    /// The General challenge check: the body must echo this challenge.
    Challenge(String),
    /// An authenticated read; `graph` says the answer may carry a Meta Graph error body.
    CredentialRead {
        /// Meta Graph API (token errors come as `{"error":{"code":190}}` with HTTP 400).
        graph: bool,
    },
}

/// A health check to run: the request to send and how to read its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// The call to make.
    pub request: ProviderRequest,
    expectation: Expectation,
}

impl HealthCheck {
    /// What the answer says about the channel (module docs: the seed's table for the challenge
    /// check, our mapping for credential reads).
    pub fn classify(&self, response: &ProviderResponse) -> ChannelHealth {
        let (status, body) = match response {
            ProviderResponse::NoResponse { .. } => return ChannelHealth::RequestFailed,
            ProviderResponse::Http { status, body, .. } => (*status, body.as_slice()),
        };
        match &self.expectation {
            Expectation::Challenge(challenge) => classify_challenge(challenge, status, body),
            Expectation::CredentialRead { graph } => classify_read(*graph, status, body),
        }
    }
}

/// The seed's table (seed 001 L6679-6687).
fn classify_challenge(challenge: &str, status: u16, body: &[u8]) -> ChannelHealth {
    match status {
        200 if echoes(body, challenge) => ChannelHealth::Connected,
        200 | 401 | 403 | 404 => ChannelHealth::Unauthorized,
        500 => ChannelHealth::ServiceUnavailable,
        _ if is_pbx_error(body) => ChannelHealth::Unknown,
        _ => ChannelHealth::RequestFailed,
    }
}

/// Our mapping for authenticated reads (module docs).
fn classify_read(graph: bool, status: u16, body: &[u8]) -> ChannelHealth {
    match status {
        200..=299 => ChannelHealth::Connected,
        401 | 403 => ChannelHealth::Unauthorized,
        _ if graph && is_graph_auth_error(body) => ChannelHealth::Unauthorized,
        500..=599 => ChannelHealth::ServiceUnavailable,
        _ => ChannelHealth::Unknown,
    }
}

/// Whether `body` echoes `challenge`: equal once surrounding ASCII whitespace is trimmed, or a
/// JSON string equal to it. An empty challenge never matches (an empty 200 must not pass).
fn echoes(body: &[u8], challenge: &str) -> bool {
    if challenge.is_empty() {
        return false;
    }
    let body = body.trim_ascii();
    body == challenge.as_bytes()
        || matches!(serde_json::from_slice::<Value>(body), Ok(Value::String(s)) if s == challenge)
}

/// Whether `body` is an error in the PBX format (seed 001 L6636-6655): a JSON object whose
/// `errors` is a non-empty array of objects.
fn is_pbx_error(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return false };
    v.get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errors| !errors.is_empty() && errors.iter().all(Value::is_object))
}

/// Whether `body` is a Graph error naming a token or permission problem (the codes
/// `provider::meta` maps to Authentication Failed).
fn is_graph_auth_error(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return false };
    v.get("error")
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64)
        .is_some_and(|code| matches!(code, 0 | 3 | 10 | 102 | 190 | 200..=299))
}

/// The health check for a channel with `credentials`, or `None` when none can be made. The caller
/// then leaves the channel's health as it is (Unknown until something is known); a `None` is not a
/// failure and must not be recorded as Request Failed.
///
/// | provider | request | source |
/// |---|---|---|
/// | General, athena, IXICA, Vetta, VoIP.ms | `GET {api_verify_url}?challenge={challenge}` (`&challenge=` when the URL has a query), Bearer `api_key` | seed 001 L6573-6607 |
/// | General-like without `api_verify_url` | none: the check is optional (L6550-6552) | seed |
/// | Twilio | `GET {twilio}/2010-04-01/Accounts/{account_sid}.json`, Basic `account_sid:auth_token` | twilio-python `rest/api/v2010/account/__init__.py` (`/Accounts/{sid}.json`); base and auth as the send call, provider-contracts.md §1 |
/// | Telnyx | `GET {telnyx}/v2/balance`, Bearer `api_key` | telnyx-python `resources/balance.py` (`GET /balance` under `/v2`); auth as the send call, §3 |
/// | Bandwidth | `GET {bandwidth}/api/v2/users/{account_id}/messages?limit=1`, Basic `username:password` | Bandwidth/python-sdk `messages_api.py` `list_messages` (Basic); UNVERIFIED that `limit` alone satisfies "include at least one query parameter", and that every messaging API user may list messages |
/// | Flowroute | `GET {flowroute}/v2/numbers?limit=1`, Basic `access_key:secret_key` | flowroute-sdk-v3-python `numbers_controller.py` `list_account_phone_numbers` |
/// | WhatsApp | `GET {graph}/{phone_number_id}`, Bearer access token | UNVERIFIED (Graph "get phone number by id"; not in provider-contracts.md) |
/// | Messenger | `GET {graph}/me`, Bearer Page access token (`/me` is the Page for a Page token; the credentials hold no page id) | UNVERIFIED (not in provider-contracts.md) |
/// | Apidaze, SIPTRUNK, Skyetel, VoiceMeUp | none | provider-contracts.md documents no read endpoint for them, and their send modules already rest on UNVERIFIED contracts; a send would cost money |
///
/// `{graph}` is [`ProviderEndpoints::graph`], which already carries the Graph version the send
/// calls use. `challenge` should come from [`challenge_from_random`]; it is URL-encoded here.
pub fn health_check(credentials: &Credentials, endpoints: &ProviderEndpoints, challenge: &str) -> Option<HealthCheck> {
    let read = |url: String, auth: RequestAuth, graph: bool| HealthCheck {
        request: get(url, auth),
        expectation: Expectation::CredentialRead { graph },
    };
    match credentials {
        Credentials::General { creds, .. } => challenge_check(creds, challenge),
        Credentials::Twilio(k) => Some(read(
            format!("{}/2010-04-01/Accounts/{}.json", base(&endpoints.twilio), path_segment(&k.id)),
            RequestAuth::Basic { user: k.id.clone(), password: k.secret.clone() },
            false,
        )),
        Credentials::Telnyx(t) => {
            Some(read(format!("{}/v2/balance", base(&endpoints.telnyx)), RequestAuth::Bearer(t.api_key.clone()), false))
        }
        Credentials::Bandwidth(b) => Some(read(
            format!("{}/api/v2/users/{}/messages?limit=1", base(&endpoints.bandwidth), path_segment(&b.account_id)),
            RequestAuth::Basic { user: b.username.clone(), password: b.password.clone() },
            false,
        )),
        Credentials::Flowroute(k) => Some(read(
            format!("{}/v2/numbers?limit=1", base(&endpoints.flowroute)),
            RequestAuth::Basic { user: k.id.clone(), password: k.secret.clone() },
            false,
        )),
        Credentials::WhatsApp(w) => Some(read(
            format!("{}/{}", base(&endpoints.graph), path_segment(&w.phone_number_id)),
            RequestAuth::Bearer(w.meta.access_token.clone()),
            true,
        )),
        Credentials::Facebook(f) => {
            Some(read(format!("{}/me", base(&endpoints.graph)), RequestAuth::Bearer(f.meta.access_token.clone()), true))
        }
        Credentials::Apidaze { .. }
        | Credentials::Siptrunk(_)
        | Credentials::Skyetel(_)
        | Credentials::VoiceMeUp(_) => None,
    }
}

/// The seed's challenge check, if the channel has a verify URL.
fn challenge_check(creds: &GeneralCredentials, challenge: &str) -> Option<HealthCheck> {
    let mut url = creds.verify_url.as_ref()?.as_url().clone();
    url.set_fragment(None);
    url.query_pairs_mut().append_pair("challenge", challenge);
    Some(HealthCheck {
        request: get(url.into(), RequestAuth::Bearer(creds.api_key.clone())),
        expectation: Expectation::Challenge(challenge.to_owned()),
    })
}

fn get(url: String, auth: RequestAuth) -> ProviderRequest {
    ProviderRequest {
        method: HttpMethod::Get,
        url,
        auth,
        headers: vec![("Accept".into(), "application/json".into())],
        body: None,
        timeout: HEALTH_CHECK_TIMEOUT,
    }
}

fn base(endpoint: &str) -> &str {
    endpoint.trim_end_matches('/')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::channel::{Provider, ProviderUrl, UrlPolicy};
    use crate::credentials::{
        BandwidthCredentials, FacebookCredentials, KeyPair, MetaCredentials, TelnyxCredentials, WhatsAppCredentials,
    };
    use crate::secret::Secret;
    use crate::webhook::Headers;

    /// The seed's example challenge (seed 001 L6603).
    const CHALLENGE: &str = "mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy";

    fn general(flavor: Provider, verify_url: Option<&str>) -> Credentials {
        Credentials::General {
            flavor,
            creds: GeneralCredentials {
                api_key: Secret::new("myAPIKey456"),
                api_secret: None,
                verify_url: verify_url.map(|u| ProviderUrl::parse(u, UrlPolicy::HttpsOnly).unwrap()),
                send_url: ProviderUrl::parse("https://service-provider.example.com/sendmessage", UrlPolicy::HttpsOnly)
                    .unwrap(),
            },
        }
    }

    fn seed_check() -> HealthCheck {
        health_check(
            &general(Provider::General, Some("https://service-provider.example.com/verify")),
            &ProviderEndpoints::default(),
            CHALLENGE,
        )
        .unwrap()
    }

    fn pair(id: &str, secret: &str) -> KeyPair {
        KeyPair { id: id.into(), secret: Secret::new(secret) }
    }

    fn meta(token: &str) -> MetaCredentials {
        MetaCredentials {
            access_token: Secret::new(token),
            app_secret: Secret::new("app-secret"),
            verify_token: Secret::new("qm3rprg52wzk1ah"),
        }
    }

    fn whatsapp() -> Credentials {
        Credentials::WhatsApp(WhatsAppCredentials {
            meta: meta("EAAJB-system-user"),
            phone_number_id: "106540352242922".into(),
            business_account_id: "102290129340398".into(),
        })
    }

    fn messenger() -> Credentials {
        Credentials::Facebook(FacebookCredentials { meta: meta("EAAJB-page"), page_name: Some("Acme".into()) })
    }

    fn twilio() -> Credentials {
        Credentials::Twilio(pair("AC0123456789abcdef0123456789abcdef", "auth-token-1"))
    }

    fn telnyx() -> Credentials {
        Credentials::Telnyx(TelnyxCredentials {
            api_key: Secret::new("KEY01234567890ABCDEF"),
            public_key: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".into(),
        })
    }

    fn bandwidth() -> Credentials {
        Credentials::Bandwidth(BandwidthCredentials {
            application_id: "93de2206-9669-4e07-948d-329f4b722ee2".into(),
            account_id: "9900000".into(),
            username: "api-user".into(),
            password: Secret::new("api-pass"),
        })
    }

    fn http(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse::Http { status, headers: Headers::default(), body: body.as_bytes().to_vec() }
    }

    fn no_response() -> ProviderResponse {
        ProviderResponse::NoResponse { reason: "dns error: no such host".into() }
    }

    /// The seed's error example (seed 001 L6643-6654).
    const PBX_ERROR: &str = r#"{"errors":[{"code":"10004","title":"Authentication failed","detail":"No key found matching the ID with the provided secret."}]}"#;

    // --- ChannelHealth -------------------------------------------------------------------------

    #[test]
    fn when_naming_each_health_should_use_stable_snake_case_and_the_seeds_labels() {
        let named: Vec<(&str, &str)> = ChannelHealth::ALL.iter().map(|h| (h.as_str(), h.label())).collect();
        assert_eq!(
            named,
            vec![
                ("connected", "Connected"),
                ("unauthorized", "Unauthorized"),
                ("service_unavailable", "Services of the recipient platform are unavailable"),
                ("unknown", "Unknown"),
                ("request_failed", "Request Failed"),
            ]
        );
    }

    #[test]
    fn when_serializing_health_should_use_the_wire_names_both_ways() {
        for h in ChannelHealth::ALL {
            let json = serde_json::to_string(&h).unwrap();
            assert_eq!(json, format!("\"{}\"", h.as_str()));
            assert_eq!(serde_json::from_str::<ChannelHealth>(&json).unwrap(), h);
        }
        assert_eq!(serde_json::to_string(&ChannelHealth::ServiceUnavailable).unwrap(), r#""service_unavailable""#);
        assert!(serde_json::from_str::<ChannelHealth>(r#""ServiceUnavailable""#).is_err());
    }

    // --- health_change -------------------------------------------------------------------------

    #[test]
    fn when_the_health_is_first_known_should_count_as_a_change() {
        assert!(health_change(None, ChannelHealth::Connected));
        assert!(health_change(None, ChannelHealth::Unknown));
    }

    #[test]
    fn when_the_health_is_the_same_should_not_count_as_a_change() {
        for h in ChannelHealth::ALL {
            assert!(!health_change(Some(h), h), "{h:?}");
        }
    }

    #[test]
    fn when_the_health_differs_should_count_as_a_change() {
        assert!(health_change(Some(ChannelHealth::Connected), ChannelHealth::Unauthorized));
        assert!(health_change(Some(ChannelHealth::RequestFailed), ChannelHealth::Connected));
        assert!(health_change(Some(ChannelHealth::Unknown), ChannelHealth::ServiceUnavailable));
    }

    // --- challenge_from_random -----------------------------------------------------------------

    #[test]
    fn when_making_a_challenge_should_give_32_alphanumerics() {
        let c = challenge_from_random([0u8; 24]);
        assert_eq!(c, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let c = challenge_from_random([0xFF; 24]);
        // Base64url of 0xFF.. is all `_`, mapped to `1`.
        assert_eq!(c, "11111111111111111111111111111111");
        let c = challenge_from_random([0xFB; 24]);
        // 0xFB 0xFB 0xFB = 111110 111111 101111 111011 -> `-`, `_`, `v`, `7` -> `0`, `1`, `v`, `7`.
        assert_eq!(c, "01v701v701v701v701v701v701v701v7");
        let c = challenge_from_random(core::array::from_fn(|i| u8::try_from(i * 11).unwrap()));
        assert_eq!(c.len(), 32);
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()), "{c}");
    }

    #[test]
    fn when_the_random_bytes_differ_should_give_different_challenges() {
        let mut a = [7u8; 24];
        let b = a;
        a[23] = 8;
        assert_ne!(challenge_from_random(a), challenge_from_random(b));
    }

    // --- the General challenge check: request ----------------------------------------------------

    #[test]
    fn when_a_general_channel_has_a_verify_url_should_build_the_seeds_request() {
        // seed 001 L6573-6607
        let check = seed_check();
        assert_eq!(check.request.method, HttpMethod::Get);
        assert_eq!(
            check.request.url,
            "https://service-provider.example.com/verify?challenge=mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy"
        );
        assert_eq!(check.request.auth, RequestAuth::Bearer(Secret::new("myAPIKey456")));
        assert_eq!(check.request.body, None);
        assert_eq!(check.request.timeout, Duration::from_secs(10));
    }

    #[test]
    fn when_any_general_flavor_has_a_verify_url_should_build_the_challenge_check() {
        for flavor in [Provider::General, Provider::Athena, Provider::Ixica, Provider::Vetta, Provider::VoipMs] {
            let check = health_check(
                &general(flavor, Some("https://sp.example.com/verify")),
                &ProviderEndpoints::default(),
                "abc123",
            )
            .unwrap_or_else(|| panic!("{flavor}: no check"));
            assert_eq!(check.request.url, "https://sp.example.com/verify?challenge=abc123", "{flavor}");
            assert_eq!(check.expectation, Expectation::Challenge("abc123".into()), "{flavor}");
        }
    }

    #[test]
    fn when_the_verify_url_has_a_query_should_append_the_challenge_with_an_ampersand() {
        let check = health_check(
            &general(Provider::General, Some("https://sp.example.com/verify?tenant=42&v=2")),
            &ProviderEndpoints::default(),
            CHALLENGE,
        )
        .unwrap();
        assert_eq!(
            check.request.url,
            "https://sp.example.com/verify?tenant=42&v=2&challenge=mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy"
        );
    }

    #[test]
    fn when_the_verify_url_ends_with_an_empty_query_should_not_add_an_ampersand() {
        let check = health_check(
            &general(Provider::General, Some("https://sp.example.com/verify?")),
            &ProviderEndpoints::default(),
            "abc",
        )
        .unwrap();
        assert_eq!(check.request.url, "https://sp.example.com/verify?challenge=abc");
    }

    #[test]
    fn when_the_verify_url_has_a_fragment_should_leave_it_out() {
        let check = health_check(
            &general(Provider::General, Some("https://sp.example.com/verify?a=1#top")),
            &ProviderEndpoints::default(),
            "abc",
        )
        .unwrap();
        assert_eq!(check.request.url, "https://sp.example.com/verify?a=1&challenge=abc");
    }

    #[test]
    fn when_the_challenge_has_reserved_characters_should_url_encode_it() {
        let check = health_check(
            &general(Provider::General, Some("https://sp.example.com/verify")),
            &ProviderEndpoints::default(),
            "a b&c=d/e+f",
        )
        .unwrap();
        assert_eq!(check.request.url, "https://sp.example.com/verify?challenge=a+b%26c%3Dd%2Fe%2Bf");
    }

    #[test]
    fn when_a_general_channel_has_no_verify_url_should_make_no_check() {
        // The check is optional (seed 001 L6550-6552).
        for flavor in [Provider::General, Provider::Athena, Provider::Ixica, Provider::Vetta, Provider::VoipMs] {
            assert_eq!(
                health_check(&general(flavor, None), &ProviderEndpoints::default(), CHALLENGE),
                None,
                "{flavor}"
            );
        }
    }

    // --- the General challenge check: the seed's table -------------------------------------------

    #[test]
    fn when_the_provider_echoes_the_challenge_with_200_should_be_connected() {
        // seed 001 L6621-6630
        assert_eq!(seed_check().classify(&http(200, "mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy")), ChannelHealth::Connected);
    }

    #[test]
    fn when_the_echo_has_a_trailing_newline_or_spaces_should_still_be_connected() {
        let check = seed_check();
        assert_eq!(check.classify(&http(200, "mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy\n")), ChannelHealth::Connected);
        assert_eq!(check.classify(&http(200, "mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy\r\n")), ChannelHealth::Connected);
        assert_eq!(check.classify(&http(200, "  mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy ")), ChannelHealth::Connected);
    }

    #[test]
    fn when_the_echo_is_a_json_string_should_be_connected() {
        assert_eq!(
            seed_check().classify(&http(200, "\"mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy\"\n")),
            ChannelHealth::Connected
        );
    }

    #[test]
    fn when_200_carries_another_body_should_be_unauthorized() {
        // "The returned challenge code does not match the one sent by the PBX" (seed 001 L6680).
        let check = seed_check();
        for body in [
            "",
            "OK",
            "mawpgnyetzgguoplwitgplrjyihoLMy",
            "MAWPGNYETZGGUOPYLWITGPLRJYIHOLMY",
            "mAWpGnyeTZgguOPYlWitGPlRJYIhoLM",
            "mAWpGnyeTZgguOPYlWitGPlRJYIhoLMyX",
            "xmAWpGnyeTZgguOPYlWitGPlRJYIhoLMy",
            r#"{"challenge":"mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy"}"#,
            r#"["mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy"]"#,
            PBX_ERROR,
        ] {
            assert_eq!(check.classify(&http(200, body)), ChannelHealth::Unauthorized, "{body:?}");
        }
    }

    #[test]
    fn when_the_challenge_is_empty_an_empty_200_should_not_pass() {
        let check = health_check(
            &general(Provider::General, Some("https://sp.example.com/verify")),
            &ProviderEndpoints::default(),
            "",
        )
        .unwrap();
        assert_eq!(check.classify(&http(200, "")), ChannelHealth::Unauthorized);
        assert_eq!(check.classify(&http(200, "\"\"")), ChannelHealth::Unauthorized);
    }

    #[test]
    fn when_the_provider_answers_401_403_or_404_should_be_unauthorized() {
        // seed 001 L6680 (403: see ambiguity A-8 in the module docs)
        let check = seed_check();
        for status in [401, 403, 404] {
            assert_eq!(check.classify(&http(status, PBX_ERROR)), ChannelHealth::Unauthorized, "{status}");
            assert_eq!(check.classify(&http(status, "")), ChannelHealth::Unauthorized, "{status}");
            assert_eq!(check.classify(&http(status, "<html>nope</html>")), ChannelHealth::Unauthorized, "{status}");
        }
    }

    #[test]
    fn when_the_provider_answers_500_should_be_service_unavailable() {
        // seed 001 L6681
        let check = seed_check();
        assert_eq!(check.classify(&http(500, "")), ChannelHealth::ServiceUnavailable);
        assert_eq!(check.classify(&http(500, PBX_ERROR)), ChannelHealth::ServiceUnavailable);
        assert_eq!(check.classify(&http(500, "<html>Internal Server Error</html>")), ChannelHealth::ServiceUnavailable);
    }

    #[test]
    fn when_another_status_carries_a_pbx_error_should_be_unknown() {
        // seed 001 L6682
        let check = seed_check();
        let unavailable = r#"{"errors":[{"code":"10007","title":"Service unavailable","detail":"down"}]}"#;
        assert_eq!(check.classify(&http(502, unavailable)), ChannelHealth::Unknown);
        assert_eq!(check.classify(&http(503, unavailable)), ChannelHealth::Unknown);
        assert_eq!(check.classify(&http(400, PBX_ERROR)), ChannelHealth::Unknown);
        assert_eq!(check.classify(&http(429, r#"{"errors":[{"code":"10006"}]}"#)), ChannelHealth::Unknown);
        assert_eq!(check.classify(&http(201, PBX_ERROR)), ChannelHealth::Unknown);
    }

    #[test]
    fn when_another_status_has_no_body_or_a_non_json_body_should_be_request_failed() {
        // seed 001 L6683-6687
        let check = seed_check();
        assert_eq!(
            check.classify(&http(502, "<html><body>502 Bad Gateway</body></html>")),
            ChannelHealth::RequestFailed
        );
        assert_eq!(check.classify(&http(503, "")), ChannelHealth::RequestFailed);
        assert_eq!(check.classify(&http(504, "upstream timed out")), ChannelHealth::RequestFailed);
        assert_eq!(check.classify(&http(204, "")), ChannelHealth::RequestFailed);
        assert_eq!(check.classify(&http(301, "")), ChannelHealth::RequestFailed);
        // 201 is not 200: even the echoed challenge does not make it Connected.
        assert_eq!(check.classify(&http(201, "mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy")), ChannelHealth::RequestFailed);
    }

    #[test]
    fn when_another_status_has_json_that_is_not_a_pbx_error_should_be_request_failed() {
        let check = seed_check();
        for body in [
            r#"{"message":"Internal server error"}"#,
            r#"{"errors":[]}"#,
            r#"{"errors":"10004"}"#,
            r#"{"errors":["10004"]}"#,
            r#"[{"code":"10004"}]"#,
            "null",
            "42",
        ] {
            assert_eq!(check.classify(&http(502, body)), ChannelHealth::RequestFailed, "{body}");
        }
    }

    #[test]
    fn when_there_is_no_http_response_should_be_request_failed() {
        // seed 001 L6683
        assert_eq!(seed_check().classify(&no_response()), ChannelHealth::RequestFailed);
    }

    // --- credential reads: requests --------------------------------------------------------------

    fn basic(user: &str, password: &str) -> RequestAuth {
        RequestAuth::Basic { user: user.into(), password: Secret::new(password) }
    }

    fn check_of(credentials: &Credentials) -> HealthCheck {
        health_check(credentials, &ProviderEndpoints::default(), CHALLENGE).unwrap()
    }

    #[test]
    fn when_checking_twilio_should_fetch_the_account_with_basic_auth() {
        let check = check_of(&twilio());
        assert_eq!(check.request.method, HttpMethod::Get);
        assert_eq!(
            check.request.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef.json"
        );
        assert_eq!(check.request.auth, basic("AC0123456789abcdef0123456789abcdef", "auth-token-1"));
        assert_eq!(check.request.headers, vec![("Accept".to_owned(), "application/json".to_owned())]);
        assert_eq!(check.request.body, None);
        assert_eq!(check.request.timeout, Duration::from_secs(10));
        assert_eq!(check.expectation, Expectation::CredentialRead { graph: false });
    }

    #[test]
    fn when_checking_telnyx_should_read_the_balance_with_the_api_key() {
        let check = check_of(&telnyx());
        assert_eq!(check.request.method, HttpMethod::Get);
        assert_eq!(check.request.url, "https://api.telnyx.com/v2/balance");
        assert_eq!(check.request.auth, RequestAuth::Bearer(Secret::new("KEY01234567890ABCDEF")));
        assert_eq!(check.request.body, None);
    }

    #[test]
    fn when_checking_bandwidth_should_list_one_message_of_the_account() {
        let check = check_of(&bandwidth());
        assert_eq!(check.request.method, HttpMethod::Get);
        assert_eq!(check.request.url, "https://messaging.bandwidth.com/api/v2/users/9900000/messages?limit=1");
        assert_eq!(check.request.auth, basic("api-user", "api-pass"));
    }

    #[test]
    fn when_checking_flowroute_should_list_one_number_with_basic_auth() {
        let check = check_of(&Credentials::Flowroute(pair("AK123", "SK456")));
        assert_eq!(check.request.method, HttpMethod::Get);
        assert_eq!(check.request.url, "https://api.flowroute.com/v2/numbers?limit=1");
        assert_eq!(check.request.auth, basic("AK123", "SK456"));
    }

    #[test]
    fn when_checking_whatsapp_should_read_the_phone_number_node() {
        let check = check_of(&whatsapp());
        assert_eq!(check.request.method, HttpMethod::Get);
        assert_eq!(check.request.url, "https://graph.facebook.com/v21.0/106540352242922");
        assert_eq!(check.request.auth, RequestAuth::Bearer(Secret::new("EAAJB-system-user")));
        assert_eq!(check.expectation, Expectation::CredentialRead { graph: true });
    }

    #[test]
    fn when_checking_messenger_should_read_me_with_the_page_token() {
        let check = check_of(&messenger());
        assert_eq!(check.request.method, HttpMethod::Get);
        assert_eq!(check.request.url, "https://graph.facebook.com/v21.0/me");
        assert_eq!(check.request.auth, RequestAuth::Bearer(Secret::new("EAAJB-page")));
        assert_eq!(check.expectation, Expectation::CredentialRead { graph: true });
    }

    #[test]
    fn when_the_endpoints_point_at_a_local_server_should_use_them() {
        let local = ProviderEndpoints::all_at("http://127.0.0.1:9000/");
        let url = |c: &Credentials| health_check(c, &local, CHALLENGE).unwrap().request.url;
        assert_eq!(url(&twilio()), "http://127.0.0.1:9000/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef.json");
        assert_eq!(url(&telnyx()), "http://127.0.0.1:9000/v2/balance");
        assert_eq!(url(&bandwidth()), "http://127.0.0.1:9000/api/v2/users/9900000/messages?limit=1");
        assert_eq!(url(&Credentials::Flowroute(pair("a", "b"))), "http://127.0.0.1:9000/v2/numbers?limit=1");
        assert_eq!(url(&whatsapp()), "http://127.0.0.1:9000/v21.0/106540352242922");
        assert_eq!(url(&messenger()), "http://127.0.0.1:9000/v21.0/me");
    }

    #[test]
    fn when_an_id_has_reserved_characters_should_encode_it_as_one_path_segment() {
        let check = check_of(&Credentials::Twilio(pair("AC/../x y", "t")));
        assert_eq!(check.request.url, "https://api.twilio.com/2010-04-01/Accounts/AC%2F..%2Fx%20y.json");
    }

    #[test]
    fn when_a_provider_documents_no_read_endpoint_should_make_no_check() {
        let none = |c: Credentials| health_check(&c, &ProviderEndpoints::default(), CHALLENGE);
        assert_eq!(none(Credentials::Apidaze { keys: pair("k", "s"), accompanying_text: "Sent by Acme".into() }), None);
        assert_eq!(none(Credentials::Siptrunk(pair("a", "s"))), None);
        assert_eq!(none(Credentials::Skyetel(pair("a", "s"))), None);
        assert_eq!(none(Credentials::VoiceMeUp(pair("u", "t"))), None);
    }

    // --- credential reads: classification --------------------------------------------------------

    #[test]
    fn when_a_credential_read_succeeds_should_be_connected() {
        let check = check_of(&twilio());
        assert_eq!(
            check.classify(&http(200, r#"{"sid":"AC0123456789abcdef0123456789abcdef"}"#)),
            ChannelHealth::Connected
        );
        assert_eq!(check.classify(&http(204, "")), ChannelHealth::Connected);
    }

    #[test]
    fn when_a_credential_read_is_refused_should_be_unauthorized() {
        let check = check_of(&telnyx());
        assert_eq!(check.classify(&http(401, r#"{"errors":[{"code":"10009"}]}"#)), ChannelHealth::Unauthorized);
        assert_eq!(check.classify(&http(403, "")), ChannelHealth::Unauthorized);
    }

    #[test]
    fn when_a_credential_read_meets_a_server_error_should_be_service_unavailable() {
        let check = check_of(&bandwidth());
        for status in [500, 502, 503, 504] {
            assert_eq!(check.classify(&http(status, "")), ChannelHealth::ServiceUnavailable, "{status}");
        }
    }

    #[test]
    fn when_a_credential_read_gets_another_answer_should_be_unknown() {
        let check = check_of(&Credentials::Flowroute(pair("AK123", "SK456")));
        for status in [301, 400, 404, 408, 422, 429] {
            assert_eq!(check.classify(&http(status, "")), ChannelHealth::Unknown, "{status}");
        }
    }

    #[test]
    fn when_a_credential_read_gets_no_response_should_be_request_failed() {
        for c in [twilio(), telnyx(), bandwidth(), whatsapp(), messenger()] {
            assert_eq!(check_of(&c).classify(&no_response()), ChannelHealth::RequestFailed);
        }
    }

    #[test]
    fn when_graph_refuses_the_token_with_400_should_be_unauthorized() {
        // Graph answers 400 with error code 190 for an expired or invalid token.
        let expired = r#"{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A1"}}"#;
        let permission = r#"{"error":{"message":"(#200) Permissions error","type":"OAuthException","code":200}}"#;
        for c in [whatsapp(), messenger()] {
            let check = check_of(&c);
            assert_eq!(check.classify(&http(400, expired)), ChannelHealth::Unauthorized);
            assert_eq!(check.classify(&http(400, permission)), ChannelHealth::Unauthorized);
        }
    }

    #[test]
    fn when_graph_answers_400_with_another_code_should_be_unknown() {
        let bad_id = r#"{"error":{"message":"Unsupported get request.","type":"GraphMethodException","code":100,"error_subcode":33}}"#;
        assert_eq!(check_of(&whatsapp()).classify(&http(400, bad_id)), ChannelHealth::Unknown);
        assert_eq!(check_of(&whatsapp()).classify(&http(400, "not json")), ChannelHealth::Unknown);
    }

    #[test]
    fn when_a_non_graph_provider_answers_400_with_a_graph_like_body_should_stay_unknown() {
        let expired = r#"{"error":{"code":190}}"#;
        assert_eq!(check_of(&twilio()).classify(&http(400, expired)), ChannelHealth::Unknown);
    }

    #[test]
    fn when_graph_answers_5xx_with_an_auth_code_should_still_be_unauthorized() {
        // The Graph code is the more specific statement.
        let expired = r#"{"error":{"code":190}}"#;
        assert_eq!(check_of(&messenger()).classify(&http(500, expired)), ChannelHealth::Unauthorized);
        assert_eq!(check_of(&messenger()).classify(&http(500, "")), ChannelHealth::ServiceUnavailable);
    }
}
