//! Twilio inbound webhooks: verification and parsing.
//! Contract: ../shared/research/provider-contracts.md §1.
//!
//! Signature (`X-Twilio-Signature`, twilio-python `request_validator.py`, twilio-node
//! `webhooks.ts`): `base64(HMAC-SHA1(auth token, url + params))` where `url` is the full URL
//! Twilio called and `params` are the decoded form fields sorted by name, each appended as
//! `name + value`; a repeated name contributes its values sorted and de-duplicated. JSON bodies
//! are signed differently: the URL carries `bodySHA256=<hex sha256(raw body)>`, the HMAC covers
//! the URL alone, and the hash is checked against the raw body. Twilio signs no timestamp, so
//! there is no replay window; `MessageSid` is the de-duplication key.
//!
//! Twilio's own URL handling is inconsistent about ports ("sig generation on back end is
//! inconsistent", twilio-python), so, like both SDKs, a signature is accepted when it matches the
//! URL as given, the URL with its port removed, or the URL with the scheme's default port added;
//! each of those is also tried on the WHATWG serialisation of the URL (`url::Url`), which is how
//! twilio-node's "special characters" vector (`It's` → `It%27s`) matches.
//!
//! Body (form fields, "Twilio's request to your incoming message Webhook URL",
//! https://www.twilio.com/docs/messaging/guides/webhook-request): `MessageSid` (or the legacy
//! `SmsSid`), `From`, `To`, `Body`, `NumMedia`, `MediaUrl{N}`, `MediaContentType{N}`. A status
//! callback (outbound delivery report) carries `MessageStatus` (`queued`, `sent`, `delivered`,
//! `undelivered`, `failed`, `read`, ...) and `ErrorCode`, and neither `Body` nor `NumMedia`; an
//! inbound message says `SmsStatus=received`.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::credentials::KeyPair;
use crate::ids::ProviderMessageId;
use crate::inbound::MediaRef;
use crate::phone::CustomerAddress;
use crate::webhook::{ParsedMessage, ReportedStatus, StatusReport, WebhookEvent, WebhookInput, WebhookRejection};

/// Name of the signature header (compared case-insensitively).
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The query parameter Twilio adds to the URL when the body is JSON.
pub const BODY_HASH_PARAM: &str = "bodySHA256";

/// Twilio attaches at most this many media files to a message; a larger `NumMedia` is refused.
const MAX_MEDIA: usize = 10;

/// Checks `X-Twilio-Signature` with the account's auth token against `input.public_url` and the
/// body (form fields, or the `bodySHA256` hash for JSON bodies).
pub fn verify(credentials: &KeyPair, input: &WebhookInput<'_>) -> Result<(), WebhookRejection> {
    let header = input.headers.get(SIGNATURE_HEADER).ok_or(WebhookRejection::SignatureMissing)?;
    let expected =
        STANDARD.decode(header.trim().as_bytes()).ok().filter(|s| s.len() == 20).ok_or(
            WebhookRejection::SignatureMalformed("X-Twilio-Signature must be the Base64 of a 20-byte HMAC-SHA1"),
        )?;
    let token = credentials.secret.expose().as_bytes();

    let body_hash = query_param(input.public_url, BODY_HASH_PARAM);
    let params = match body_hash {
        Some(_) => Vec::new(),
        None => form_pairs(input.body),
    };
    let suffix = sorted_params(&params);
    let url_matches = url_candidates(input.public_url).iter().any(|candidate| {
        Hmac::<Sha1>::new_from_slice(token).is_ok_and(|mut mac| {
            mac.update(candidate.as_bytes());
            mac.update(suffix.as_bytes());
            mac.verify_slice(&expected).is_ok()
        })
    });
    if !url_matches {
        return Err(WebhookRejection::SignatureMismatch);
    }
    if let Some(claimed) = body_hash {
        let actual = hex::encode(Sha256::digest(input.body));
        if !bool::from(actual.as_bytes().ct_eq(claimed.as_bytes())) {
            return Err(WebhookRejection::SignatureMismatch);
        }
    }
    Ok(())
}

/// The `X-Twilio-Signature` Twilio sends for a form POST of `params` to `url` (tests, fixtures
/// and the sandbox provider). For a JSON body, pass the URL including its `bodySHA256` parameter
/// and no params.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(mut mac) => {
            mac.update(url.as_bytes());
            mac.update(sorted_params(params).as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; never reached.
        Err(_) => String::new(),
    }
}

/// Decoded form fields, in order, repeated names kept.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// `name + value` for every parameter, names sorted, each name's values sorted and de-duplicated.
fn sorted_params(params: &[(String, String)]) -> String {
    let mut by_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        by_name.entry(name.as_str()).or_default().insert(value.as_str());
    }
    let mut out = String::new();
    for (name, values) in by_name {
        for value in values {
            out.push_str(name);
            out.push_str(value);
        }
    }
    out
}

/// The first value of a query parameter of `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Every URL form Twilio may have signed: as given and WHATWG-serialised, each also without its
/// port and with the default port. De-duplicated, the given URL first.
fn url_candidates(url: &str) -> Vec<String> {
    let mut bases = vec![url.to_owned()];
    if let Ok(parsed) = url::Url::parse(url) {
        bases.push(parsed.to_string());
    }
    let mut out: Vec<String> = Vec::new();
    for base in bases {
        for candidate in [Some(base.clone()), without_port(&base), with_default_port(&base)].into_iter().flatten() {
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

/// Where the authority of `url` sits: (scheme, authority start, authority end, port colon index
/// if any), all byte indexes into `url`.
fn authority(url: &str) -> Option<(&str, usize, usize, Option<usize>)> {
    let scheme_end = url.find("://")?;
    let start = scheme_end + 3;
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let auth = &url[start..end];
    let host_start = auth.rfind('@').map_or(0, |i| i + 1);
    let host_port = &auth[host_start..];
    let after_bracket = host_port.rfind(']').map_or(0, |i| i + 1);
    let colon = host_port[after_bracket..].rfind(':').map(|i| start + host_start + after_bracket + i);
    Some((&url[..scheme_end], start, end, colon))
}

/// `url` without its `:port` (Some only when there was one to remove).
fn without_port(url: &str) -> Option<String> {
    let (_, _, end, colon) = authority(url)?;
    let colon = colon?;
    Some(format!("{}{}", &url[..colon], &url[end..]))
}

/// `url` with `:443` / `:80` added (Some only for http(s) URLs without a port).
fn with_default_port(url: &str) -> Option<String> {
    let (scheme, _, end, colon) = authority(url)?;
    if colon.is_some() {
        return None;
    }
    let port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    Some(format!("{}:{port}{}", &url[..end], &url[end..]))
}

/// A number as channels store it: E.164 with `+` (added when missing, spaces, dashes, dots and
/// parentheses dropped); short codes stay digits; anything else (alphanumeric senders) unchanged.
fn normalise_number(raw: &str) -> String {
    let t = raw.trim();
    let phone_like =
        !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
    if !phone_like {
        return t.to_owned();
    }
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    if t.starts_with('+') || digits.len() > 8 { format!("+{digits}") } else { digits }
}

/// Parses a verified request: one customer message, or one status callback, or nothing (status
/// values that say nothing new, such as `receiving`).
pub fn parse(input: &WebhookInput<'_>) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let pairs = form_pairs(input.body);
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, value) in &pairs {
        fields.entry(name.as_str()).or_insert(value.as_str());
    }
    let invalid = |msg: String| WebhookRejection::InvalidPayload(msg);
    let field = |name: &str| fields.get(name).copied();

    let (id_name, id_text) = match (field("MessageSid"), field("SmsSid")) {
        (Some(id), _) if !id.is_empty() => ("MessageSid", id),
        (_, Some(id)) if !id.is_empty() => ("SmsSid", id),
        _ => return Err(invalid("MessageSid is required (a form-encoded Twilio webhook)".into())),
    };

    let is_status = field("MessageStatus").is_some()
        && field("Body").is_none()
        && field("NumMedia").is_none()
        && field("SmsStatus") != Some("received");
    if is_status {
        let status_text = field("MessageStatus").unwrap_or_default();
        let code = field("ErrorCode").filter(|c| !c.is_empty()).map(str::to_owned);
        let reason = field("ErrorMessage").filter(|c| !c.is_empty()).map(str::to_owned);
        let status = match status_text {
            "accepted" | "scheduled" | "queued" | "sending" | "sent" => ReportedStatus::Sent,
            "delivered" => ReportedStatus::Delivered,
            "read" => ReportedStatus::Read,
            "undelivered" => ReportedStatus::Undelivered { code, reason },
            "failed" => ReportedStatus::Failed { code, reason },
            "canceled" => ReportedStatus::Failed { code, reason: reason.or_else(|| Some("canceled".into())) },
            // receiving / received / partially_delivered / anything new: nothing to record.
            _ => return Ok(Vec::new()),
        };
        return Ok(vec![WebhookEvent::Status(StatusReport {
            provider_message_id: id_text.to_owned(),
            status,
            at: input.now,
        })]);
    }

    let provider_message_id =
        ProviderMessageId::parse(id_text).map_err(|e| invalid(format!("{id_name} {}", e.reason)))?;
    let from_text = field("From").ok_or_else(|| invalid("From is required".into()))?;
    let from = CustomerAddress::parse(&normalise_number(from_text)).map_err(|e| invalid(format!("From {}", e.0)))?;
    let to_text = field("To").filter(|t| !t.trim().is_empty()).ok_or_else(|| invalid("To is required".into()))?;
    let to = vec![normalise_number(to_text)];
    let text = field("Body").filter(|b| !b.is_empty()).map(str::to_owned);

    let num_media = match field("NumMedia") {
        None | Some("") => 0,
        Some(n) => n
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MEDIA)
            .ok_or_else(|| invalid(format!("NumMedia must be a number from 0 to {MAX_MEDIA}")))?,
    };
    let mut media = Vec::with_capacity(num_media);
    for i in 0..num_media {
        let url = field(&format!("MediaUrl{i}"))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid(format!("MediaUrl{i} is required (NumMedia is {num_media})")))?;
        media.push(MediaRef {
            url: url.to_owned(),
            content_type: field(&format!("MediaContentType{i}")).filter(|c| !c.is_empty()).map(str::to_owned),
            sha256: None,
            size: None,
        });
    }

    // An empty SMS (no Body, no media) is still what the customer sent: it is kept, not refused.
    Ok(vec![WebhookEvent::Message(ParsedMessage {
        provider_message_id,
        from,
        to,
        text,
        media,
        sent_at: input.now,
        display_name: None,
    })])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::time::Timestamp;
    use crate::webhook::Headers;
    use proptest::prelude::*;

    // The SDK vectors' inputs (twilio-python tests/unit/test_request_validator.py, twilio-node
    // spec/validation.spec.js).
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;
    const JSON_BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn sdk_params() -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    fn form(params: &[(String, String)]) -> Vec<u8> {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            s.append_pair(k, v);
        }
        s.finish().into_bytes()
    }

    fn creds() -> KeyPair {
        KeyPair { id: format!("AC{}", "0".repeat(32)), secret: Secret::new(TOKEN) }
    }

    fn check(url: &str, body: &[u8], sig: Option<&str>) -> Result<(), WebhookRejection> {
        let headers = match sig {
            Some(s) => Headers::from_pairs([("X-Twilio-Signature", s)]),
            None => Headers::default(),
        };
        verify(
            &creds(),
            &WebhookInput {
                public_url: url,
                headers: &headers,
                body,
                now: Timestamp::from_unix_seconds(1_795_000_000),
            },
        )
    }

    #[test]
    fn sdk_vectors_compute() {
        assert_eq!(sign(TOKEN, URL, &sdk_params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        let dup = p(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]);
        assert_eq!(sign(TOKEN, URL, &dup), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        let dup3 =
            p(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]);
        assert_eq!(sign(TOKEN, URL, &dup3), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        let array = p(&[("MessagingBinding.Address", "+1415xxxxxxx"), ("MessagingBinding.Address", "+1325xxxxxxx")]);
        assert_eq!(sign(TOKEN, URL, &array), "83O6e2vORAoJHUNzJjDWN1jz+BA=");
        assert_eq!(hex::encode(Sha256::digest(JSON_BODY.as_bytes())), JSON_BODY_HASH);
        assert_eq!(sign(TOKEN, &format!("{URL}&bodySHA256={JSON_BODY_HASH}"), &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
    }

    #[test]
    fn sdk_form_vectors_verify() {
        let body = form(&sdk_params());
        assert_eq!(check(URL, &body, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")), Ok(()));
        // port removed (https with :1234)
        assert_eq!(check(&URL.replace(".com", ".com:1234"), &body, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")), Ok(()));
        // http with port 1234, signed with the port
        let http_port = URL.replace(".com", ".com:1234").replace("https", "http");
        assert_eq!(check(&http_port, &body, Some("Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")), Ok(()));
        // default port added
        assert_eq!(check(URL, &body, Some("kvajT1Ptam85bY51eRf/AJRuM3w=")), Ok(()));
        assert_eq!(check(&URL.replace("https", "http"), &body, Some("0ZXoZLH/DfblKGATFgpif+LLRf4=")), Ok(()));
        // userinfo
        let creds_url = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(check(creds_url, &body, Some("CukzLTc1tT5dXEDIHm/tKBanW10=")), Ok(()));
        assert_eq!(check(creds_url, &body, Some("ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=")), Ok(()));
        let user_url = "https://user@mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(check(user_url, &body, Some("2YRLlVAflCqxaNicjMpJcSTgzSs=")), Ok(()));
        // special characters: the raw form (older twilio-node vector) and the WHATWG form
        let special = format!("{URL}&Body=It's+amazing");
        assert_eq!(check(&special, &body, Some("dsq4Ehbj6cs+KdTkpF5sSSplOWw=")), Ok(()));
        assert_eq!(check(&special, &body, Some("TfZzewPq8wqrGlMfyAud8+/IvJ0=")), Ok(()));
        // duplicates and arrays as a real form body
        let dup = form(&p(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]));
        assert_eq!(check(URL, &dup, Some("IK+Dwps556ElfBT0I3Rgjkr1wJU=")), Ok(()));
        let array =
            form(&p(&[("MessagingBinding.Address", "+1325xxxxxxx"), ("MessagingBinding.Address", "+1415xxxxxxx")]));
        assert_eq!(check(URL, &array, Some("83O6e2vORAoJHUNzJjDWN1jz+BA=")), Ok(()));
    }

    #[test]
    fn sdk_json_vectors_verify() {
        let with_hash = format!("{URL}&bodySHA256={JSON_BODY_HASH}");
        assert_eq!(check(&with_hash, JSON_BODY.as_bytes(), Some("a9nBmqA0ju/hNViExpshrM61xv4=")), Ok(()));
        // empty JSON object, signed with the default port (twilio-node)
        let empty_hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        let with_empty = format!("{URL}&bodySHA256={empty_hash}");
        assert_eq!(check(&with_empty, b"{}", Some("Ldidvp12m26NI7eqEvxnEpkd9Hc=")), Ok(()));
        // only the hash parameter
        let short = format!("https://mycompany.com/myapp.php?bodySHA256={JSON_BODY_HASH}");
        assert_eq!(check(&short, JSON_BODY.as_bytes(), Some("y77kIzt2vzLz71DgmJGsen2scGs=")), Ok(()));
        // body changed: HMAC over the URL still matches, the hash does not
        assert_eq!(
            check(&with_hash, br#"{"property": "value", "boolean": false}"#, Some("a9nBmqA0ju/hNViExpshrM61xv4=")),
            Err(WebhookRejection::SignatureMismatch)
        );
        // hash parameter cut short (twilio-node middleware vector)
        let cut = &with_hash[..with_hash.len() - 1];
        assert_eq!(
            check(cut, JSON_BODY.as_bytes(), Some("a9nBmqA0ju/hNViExpshrM61xv4=")),
            Err(WebhookRejection::SignatureMismatch)
        );
        // a body but no bodySHA256 parameter
        assert!(check(URL, JSON_BODY.as_bytes(), Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")).is_err());
    }

    #[test]
    fn negative_cases_are_refused() {
        let body = form(&sdk_params());
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert_eq!(check(URL, &body, None), Err(WebhookRejection::SignatureMissing));
        assert!(matches!(check(URL, &body, Some("WRONG_SIGNATURE")), Err(WebhookRejection::SignatureMalformed(_))));
        assert!(matches!(check(URL, &body, Some("")), Err(WebhookRejection::SignatureMalformed(_))));
        // base64 is case-sensitive
        assert!(check(URL, &body, Some(&good.to_lowercase())).is_err());
        // one byte of the body changed
        let mut changed = body.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert_eq!(check(URL, &changed, Some(good)), Err(WebhookRejection::SignatureMismatch));
        // an extra parameter in the URL (twilio-node middleware vector)
        assert_eq!(
            check(&format!("{URL}&somethingUnexpected=true"), &body, Some(good)),
            Err(WebhookRejection::SignatureMismatch)
        );
        // wrong token
        let other = KeyPair { id: "AC".into(), secret: Secret::new("54321") };
        let headers = Headers::from_pairs([("x-twilio-signature", good)]);
        let input =
            WebhookInput { public_url: URL, headers: &headers, body: &body, now: Timestamp::from_unix_seconds(0) };
        assert_eq!(verify(&other, &input), Err(WebhookRejection::SignatureMismatch));
        assert_eq!(verify(&creds(), &input), Ok(()), "header name in lower case");
    }

    #[test]
    fn url_variants_are_built_like_the_sdks() {
        assert_eq!(without_port("https://a.com:8443/x?y=1").as_deref(), Some("https://a.com/x?y=1"));
        assert_eq!(without_port("https://a.com/x"), None);
        assert_eq!(with_default_port("https://u:p@a.com/x").as_deref(), Some("https://u:p@a.com:443/x"));
        assert_eq!(with_default_port("http://a.com?x=1").as_deref(), Some("http://a.com:80?x=1"));
        assert_eq!(with_default_port("https://[::1]/x").as_deref(), Some("https://[::1]:443/x"));
        assert_eq!(without_port("https://[::1]:99/x").as_deref(), Some("https://[::1]/x"));
        assert_eq!(with_default_port("not a url"), None);
    }

    // Shape of "Twilio's request to your incoming message Webhook URL" (parameter names from
    // https://www.twilio.com/docs/messaging/guides/webhook-request), values ours.
    const INBOUND_SMS: &str = "ToCountry=US&ToState=MD&SmsMessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&NumMedia=0\
        &ToCity=BALTIMORE&FromZip=94105&SmsSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&FromState=CA&SmsStatus=received\
        &FromCity=SAN+FRANCISCO&Body=Hello%2C+I+need+help+with+my+order+%234412.&FromCountry=US&To=%2B14102161183\
        &ToZip=21201&NumSegments=1&MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f\
        &AccountSid=AC00000000000000000000000000000000&From=%2B14155550123&ApiVersion=2010-04-01";

    fn parse_body(body: &str) -> Result<Vec<WebhookEvent>, WebhookRejection> {
        let headers = Headers::default();
        parse(&WebhookInput {
            public_url: URL,
            headers: &headers,
            body: body.as_bytes(),
            now: Timestamp::from_unix_seconds(1_795_000_000),
        })
    }

    fn one_message(body: &str) -> ParsedMessage {
        match parse_body(body).unwrap().as_slice() {
            [WebhookEvent::Message(m)] => m.clone(),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    fn one_status(body: &str) -> StatusReport {
        match parse_body(body).unwrap().as_slice() {
            [WebhookEvent::Status(s)] => s.clone(),
            other => panic!("expected one status, got {other:?}"),
        }
    }

    #[test]
    fn inbound_sms_is_parsed() {
        let m = one_message(INBOUND_SMS);
        assert_eq!(m.provider_message_id.as_str(), "SM1f0e8ae6ade43cb3c0ce4525424e404f");
        assert_eq!(m.from.as_str(), "+14155550123");
        assert_eq!(m.to, vec!["+14102161183".to_owned()]);
        assert_eq!(m.text.as_deref(), Some("Hello, I need help with my order #4412."));
        assert!(m.media.is_empty());
        assert_eq!(m.sent_at, Timestamp::from_unix_seconds(1_795_000_000));
        assert_eq!(m.display_name, None);
    }

    #[test]
    fn inbound_mms_carries_every_media_item() {
        let body = INBOUND_SMS
            .replace("NumMedia=0", "NumMedia=2")
            .replace("&Body=Hello%2C+I+need+help+with+my+order+%234412.", "&Body=")
            + "&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC0%2FMessages%2FMM1%2FMedia%2FME1\
               &MediaContentType0=image%2Fjpeg\
               &MediaUrl1=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC0%2FMessages%2FMM1%2FMedia%2FME2";
        let m = one_message(&body);
        assert_eq!(m.text, None);
        assert_eq!(m.media.len(), 2);
        assert_eq!(m.media[0].url, "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1");
        assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(m.media[1].content_type, None);
        let missing = INBOUND_SMS.replace("NumMedia=0", "NumMedia=1");
        assert!(parse_body(&missing).unwrap_err().to_string().contains("MediaUrl0"));
        let huge = INBOUND_SMS.replace("NumMedia=0", "NumMedia=99999999");
        assert!(parse_body(&huge).unwrap_err().to_string().contains("NumMedia"));
    }

    #[test]
    fn numbers_are_normalised_to_what_channels_store() {
        let body =
            INBOUND_SMS.replace("To=%2B14102161183", "To=1+410-216-1183").replace("From=%2B14155550123", "From=12345");
        let m = one_message(&body);
        assert_eq!(m.to, vec!["+14102161183".to_owned()]);
        assert_eq!(m.from.as_str(), "12345", "short codes stay digits");
        let alpha = INBOUND_SMS.replace("From=%2B14155550123", "From=ACME");
        assert_eq!(one_message(&alpha).from.as_str(), "ACME");
    }

    #[test]
    fn status_callbacks_become_reports() {
        let base = "SmsSid=SM5e1b6e5c1e7f4b6c9a1d2c3b4a5f6e7d&To=%2B14155550123&MessageSid=SM5e1b6e5c1e7f4b6c9a1d2c3b4a5f6e7d\
            &AccountSid=AC00000000000000000000000000000000&From=%2B14102161183&ApiVersion=2010-04-01";
        let with = |status: &str, extra: &str| format!("{base}&SmsStatus={status}&MessageStatus={status}{extra}");
        let s = one_status(&with("delivered", ""));
        assert_eq!(s.provider_message_id, "SM5e1b6e5c1e7f4b6c9a1d2c3b4a5f6e7d");
        assert_eq!(s.status, ReportedStatus::Delivered);
        assert_eq!(s.at, Timestamp::from_unix_seconds(1_795_000_000));
        assert_eq!(one_status(&with("sent", "")).status, ReportedStatus::Sent);
        assert_eq!(one_status(&with("queued", "")).status, ReportedStatus::Sent);
        assert_eq!(one_status(&with("read", "")).status, ReportedStatus::Read);
        assert_eq!(
            one_status(&with("undelivered", "&ErrorCode=30003")).status,
            ReportedStatus::Undelivered { code: Some("30003".into()), reason: None }
        );
        assert_eq!(
            one_status(&with("failed", "&ErrorCode=30008&ErrorMessage=Unknown+error")).status,
            ReportedStatus::Failed { code: Some("30008".into()), reason: Some("Unknown error".into()) }
        );
        // statuses that say nothing new are skipped, not refused
        assert_eq!(parse_body(&with("receiving", "")).unwrap(), vec![]);
        assert_eq!(parse_body(&with("partially_delivered", "")).unwrap(), vec![]);
    }

    #[test]
    fn broken_bodies_name_the_field() {
        assert!(parse_body("").unwrap_err().to_string().contains("MessageSid"));
        assert!(parse_body("{\"json\":true}").unwrap_err().to_string().contains("MessageSid"));
        let no_from = INBOUND_SMS.replace("&From=%2B14155550123", "");
        assert!(parse_body(&no_from).unwrap_err().to_string().contains("From"));
        let bad_from = INBOUND_SMS.replace("From=%2B14155550123", "From=%21%21");
        assert!(parse_body(&bad_from).unwrap_err().to_string().contains("From"));
        let no_to = INBOUND_SMS.replace("&To=%2B14102161183", "");
        assert!(parse_body(&no_to).unwrap_err().to_string().contains("To"));
        let legacy = INBOUND_SMS.replace("&MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f", "");
        assert_eq!(one_message(&legacy).provider_message_id.as_str(), "SM1f0e8ae6ade43cb3c0ce4525424e404f");
    }

    #[test]
    fn signed_inbound_sms_round_trips() {
        let url = "https://sms.example.com/api/v1.0/webhook/twilio/429ced149ff9437695be795aff38407b";
        let sig = sign(TOKEN, url, &form_pairs(INBOUND_SMS.as_bytes()));
        assert_eq!(check(url, INBOUND_SMS.as_bytes(), Some(&sig)), Ok(()));
    }

    #[test]
    fn sample_event_is_signed_with_the_documented_credentials() {
        // events/webhook-ingest.twilio-inbound.json, signed with events/twilio.credentials.json
        // for the URL webhook-ingest rebuilds from its domainName and rawPath.
        let event: serde_json::Value =
            serde_json::from_str(include_str!("../../../../events/webhook-ingest.twilio-inbound.json")).unwrap();
        let keys: serde_json::Value =
            serde_json::from_str(include_str!("../../../../events/twilio.credentials.json")).unwrap();
        let creds = KeyPair {
            id: keys["account_sid"].as_str().unwrap().to_owned(),
            secret: Secret::new(keys["auth_token"].as_str().unwrap()),
        };
        let url = format!(
            "https://{}{}",
            event["requestContext"]["domainName"].as_str().unwrap(),
            event["rawPath"].as_str().unwrap()
        );
        let headers = Headers::from_pairs(
            event["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
        );
        let body = event["body"].as_str().unwrap().as_bytes();
        let input = WebhookInput { public_url: &url, headers: &headers, body, now: Timestamp::from_unix_seconds(0) };
        assert_eq!(verify(&creds, &input), Ok(()));
        let events = parse(&input).unwrap();
        let [WebhookEvent::Message(m)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(m.to, vec!["+14102161183".to_owned()]);
        assert_eq!(m.from.as_str(), "+8618012121222");
        assert_eq!(m.media.len(), 1);
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let headers = Headers::default();
            let input = WebhookInput { public_url: URL, headers: &headers, body: &body, now: Timestamp::from_unix_seconds(0) };
            let _ = parse(&input);
        }

        #[test]
        fn verify_never_panics_and_own_signatures_verify(
            url in "[ -~]{0,80}",
            params in proptest::collection::vec(("[A-Za-z]{1,8}", "[ -~]{0,12}"), 0..6),
        ) {
            let pairs: Vec<(String, String)> = params;
            let body = form(&pairs);
            let sig = sign(TOKEN, &url, &pairs);
            let headers = Headers::from_pairs([("X-Twilio-Signature", sig.as_str())]);
            let input = WebhookInput { public_url: &url, headers: &headers, body: &body, now: Timestamp::from_unix_seconds(0) };
            let result = verify(&creds(), &input);
            if !url.contains("bodySHA256") {
                prop_assert_eq!(result, Ok(()));
            }
        }
    }
}
