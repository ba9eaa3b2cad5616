//! The HTTP API gateway: payload format 2.0 events, route matching, response mapping, errors.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::common::{http_config, logs, start};

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn when_a_route_matches_should_send_an_api_gateway_v2_event() {
    let stack = start(http_config().await).await;
    let base = stack.http_base_url();
    let port = base.rsplit(':').next().unwrap().to_owned();
    let response = client()
        .post(format!("{base}/items/a%20b?x=1&x=2&y=z%20w"))
        .header("content-type", "application/json")
        .header("x-multi", "one")
        .header("x-multi", "two")
        .header("X-Mixed-Case", "v")
        .header("cookie", "a=1; b=2")
        .header("user-agent", "tests/1.0")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "plain JSON answers are sent as application/json"
    );
    assert!(response.headers().contains_key("apigw-requestid"));
    let event: Value = response.json().await.unwrap();

    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "POST /items/{id}");
    assert_eq!(event["rawPath"], "/items/a%20b");
    assert_eq!(event["rawQueryString"], "x=1&x=2&y=z%20w");
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-multi"], "one,two");
    assert_eq!(event["headers"]["x-mixed-case"], "v");
    assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(event["headers"]["x-forwarded-port"], port.as_str());
    assert_eq!(event["headers"]["x-forwarded-proto"], "http");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["queryStringParameters"], json!({"x": "1,2", "y": "z w"}));
    assert_eq!(event["pathParameters"], json!({"id": "a b"}));
    assert_eq!(event["body"], r#"{"hello":"world"}"#);
    assert_eq!(event["isBase64Encoded"], false);
    assert!(event.get("stageVariables").is_none());
    let ctx = &event["requestContext"];
    assert_eq!(ctx["accountId"], "000000000000");
    assert_eq!(ctx["apiId"], "local");
    assert_eq!(ctx["domainName"], format!("127.0.0.1:{port}"));
    assert_eq!(ctx["http"]["method"], "POST");
    assert_eq!(ctx["http"]["path"], "/items/a%20b");
    assert_eq!(ctx["http"]["protocol"], "HTTP/1.1");
    assert_eq!(ctx["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(ctx["http"]["userAgent"], "tests/1.0");
    assert_eq!(ctx["routeKey"], "POST /items/{id}");
    assert_eq!(ctx["stage"], "$default");
    assert!(ctx["timeEpoch"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(ctx["time"].as_str().unwrap().ends_with(" +0000"));

    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
    assert_eq!(typed.route_key.as_deref(), Some("POST /items/{id}"));
    assert_eq!(typed.raw_path.as_deref(), Some("/items/a%20b"));
    assert_eq!(typed.path_parameters.get("id").map(String::as_str), Some("a b"));
    assert_eq!(typed.request_context.http.method, http::Method::POST);
    assert_eq!(typed.request_context.stage.as_deref(), Some("$default"));
    assert_eq!(typed.body.as_deref(), Some(r#"{"hello":"world"}"#));
    assert!(!typed.is_base64_encoded);
    stack.shutdown().await;
}

#[tokio::test]
async fn when_the_body_is_binary_should_send_it_base64_encoded() {
    let stack = start(http_config().await).await;
    let bytes: Vec<u8> = vec![0, 159, 146, 150, 255];
    let event: Value = client()
        .put(format!("{}/files/a/b/c.bin", stack.http_base_url()))
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(event["routeKey"], "ANY /files/{proxy+}");
    assert_eq!(event["pathParameters"], json!({"proxy": "a/b/c.bin"}));
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(BASE64.decode(event["body"].as_str().unwrap()).unwrap(), bytes);
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event).unwrap();
    assert!(typed.is_base64_encoded);

    // Text types are sent as they are; an empty body is absent.
    for content_type in [
        "text/plain; charset=utf-8",
        "application/problem+json",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let event: Value = client()
            .post(format!("{}/files/t", stack.http_base_url()))
            .header("content-type", content_type)
            .body("a=1&b=ü")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(event["body"], "a=1&b=ü", "{content_type}");
        assert_eq!(event["isBase64Encoded"], false, "{content_type}");
    }
    let event: Value =
        client().get(format!("{}/files/t", stack.http_base_url())).send().await.unwrap().json().await.unwrap();
    assert!(event.get("body").is_none(), "{event}");
    assert!(event.get("queryStringParameters").is_none(), "{event}");
    stack.shutdown().await;
}

#[tokio::test]
async fn when_routes_overlap_should_use_the_most_specific_one() {
    let stack = start(http_config().await).await;
    let base = stack.http_base_url();
    let key = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let event: Value = client().get(url).send().await.unwrap().json().await.unwrap();
            event["routeKey"].as_str().unwrap_or_default().to_owned()
        }
    };
    assert_eq!(key("/items/special").await, "GET /items/special");
    assert_eq!(key("/items/7").await, "GET /items/{id}");
    assert_eq!(key("/files/x").await, "ANY /files/{proxy+}");
    stack.shutdown().await;
}

#[tokio::test]
async fn when_the_function_answers_with_a_structured_response_should_map_it() {
    let stack = start(http_config().await).await;
    let answer = json!({
        "respond": {
            "statusCode": 201,
            "headers": {"content-type": "image/png", "x-custom": "yes"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": BASE64.encode([1u8, 2, 3, 250]),
            "isBase64Encoded": true
        }
    });
    let response = client()
        .post(format!("{}/items/1", stack.http_base_url()))
        .header("content-type", "application/json")
        .body(answer.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["x-custom"], "yes");
    let cookies: Vec<&str> = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(cookies, vec!["a=1; Path=/", "b=2"]);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &[1u8, 2, 3, 250]);

    let text = json!({"respond": {"statusCode": 404, "body": "{\"error\":\"nope\"}"}});
    let response = client()
        .post(format!("{}/items/1", stack.http_base_url()))
        .header("content-type", "application/json")
        .body(text.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "{\"error\":\"nope\"}");

    let plain = json!({"respond": ["not", "an", "object"]});
    let response = client()
        .post(format!("{}/items/1", stack.http_base_url()))
        .header("content-type", "application/json")
        .body(plain.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.json::<Value>().await.unwrap(), json!(["not", "an", "object"]));
    stack.shutdown().await;
}

#[tokio::test]
async fn when_no_route_matches_should_answer_404_not_found() {
    let stack = start(http_config().await).await;
    for (method, path) in
        [(reqwest::Method::GET, "/nowhere"), (reqwest::Method::DELETE, "/items/1"), (reqwest::Method::GET, "/items")]
    {
        let response =
            client().request(method.clone(), format!("{}{path}", stack.http_base_url())).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"message": "Not Found"}));
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn when_the_body_exceeds_10_mib_should_answer_413_without_invoking() {
    let stack = start(http_config().await).await;
    let handled_before = logs(&stack, "EchoFunction").matches("handled").count();
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let response = client()
        .post(format!("{}/items/1", stack.http_base_url()))
        .header("content-type", "text/plain")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"message": "Request Entity Too Large"}));
    // Exactly 10 MiB is accepted.
    let limit = vec![b'a'; 10 * 1024 * 1024];
    let response = client()
        .post(format!("{}/items/1", stack.http_base_url()))
        .header("content-type", "text/plain")
        .body(limit)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let handled_after = logs(&stack, "EchoFunction").matches("handled").count();
    assert_eq!(handled_after, handled_before + 1, "only the accepted request was invoked");
    stack.shutdown().await;
}

#[tokio::test]
async fn when_the_integration_fails_should_answer_500_or_503_on_timeout() {
    let stack = start(http_config().await).await;
    let post = |body: Value| {
        client()
            .post(format!("{}/items/1", stack.http_base_url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let failed = post(json!({"fail": "bad"})).await.unwrap();
    assert_eq!(failed.status(), 500);
    assert_eq!(failed.json::<Value>().await.unwrap(), json!({"message": "Internal Server Error"}));
    let crashed = post(json!({"exit": 1})).await.unwrap();
    assert_eq!(crashed.status(), 500);
    let invalid = post(json!({"respond": {"statusCode": "abc"}})).await.unwrap();
    assert_eq!(invalid.status(), 500);
    let slow = post(json!({"sleep_ms": 5000})).await.unwrap();
    assert_eq!(slow.status(), 503);
    assert_eq!(slow.json::<Value>().await.unwrap(), json!({"message": "Service Unavailable"}));
    stack.shutdown().await;
}
