//! HTTP execution of provider calls with `reqwest` (rustls). Transport failures (connection,
//! DNS, TLS, timeout) come back as `ProviderResponse::NoResponse`; the domain classifies them.

use domain::ports::ProviderHttp;
use domain::provider::{HttpMethod, ProviderRequest, ProviderResponse, RequestAuth};
use domain::webhook::Headers;

/// The HTTP client used for every provider.
#[derive(Debug, Clone)]
pub struct ReqwestProvider {
    client: reqwest::Client,
}

impl ReqwestProvider {
    /// A client (one per process; it pools connections).
    pub fn new() -> Result<Self, reqwest::Error> {
        // Redirects are not followed: a redirected POST would arrive as a GET without its body
        // (and an API key must not be sent wherever a provider points); a 3xx is a failed send.
        let client = reqwest::Client::builder()
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client })
    }
}

impl ProviderHttp for ReqwestProvider {
    async fn execute(&self, request: &ProviderRequest) -> ProviderResponse {
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
        };
        let mut builder = self.client.request(method, &request.url).timeout(request.timeout);
        builder = match &request.auth {
            RequestAuth::Bearer(token) => builder.bearer_auth(token.expose()),
            RequestAuth::Basic { user, password } => builder.basic_auth(user, Some(password.expose())),
            RequestAuth::None => builder,
        };
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some((content_type, body)) = &request.body {
            builder = builder.header(reqwest::header::CONTENT_TYPE, content_type).body(body.clone());
        }
        match builder.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = Headers::from_pairs(
                    response
                        .headers()
                        .iter()
                        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned()))),
                );
                match response.bytes().await {
                    Ok(body) => ProviderResponse::Http { status, headers, body: body.to_vec() },
                    Err(e) => ProviderResponse::NoResponse { reason: format!("reading the response failed: {e}") },
                }
            }
            Err(e) if e.is_timeout() => ProviderResponse::NoResponse { reason: "the request timed out".into() },
            Err(e) if e.is_connect() => ProviderResponse::NoResponse { reason: format!("could not connect: {e}") },
            Err(e) => ProviderResponse::NoResponse { reason: format!("the request failed: {e}") },
        }
    }
}
