//! Operating the service: /metrics moves with traffic, /openapi.json tells
//! the truth about real responses, load is shed past the in-flight bound,
//! and logs come as JSON lines with an opt-in access log.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Options, Proc, Resp, TestApp};
use serde_json::{Value, json};

/// Parses Prometheus text into `series{labels} -> value`.
fn metrics(resp: &Resp) -> HashMap<String, f64> {
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    String::from_utf8(resp.body.clone())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn metrics_move_as_requests_are_made() {
    let app = TestApp::spawn().await;
    let before = metrics(&app.get("/metrics").await);
    let get = |k: &str, m: &HashMap<String, f64>| m.get(k).copied().unwrap_or(0.0);
    for _ in 0..3 {
        assert_eq!(app.get("/reviews/2").await.status, 200);
    }
    assert_eq!(
        app.get(&format!("/reviews/{}", app.set.products + 1))
            .await
            .status,
        404
    );
    assert_eq!(app.get("/reviews/abc/meta").await.status, 400);
    assert_eq!(app.get("/nowhere").await.status, 404);
    let after = metrics(&app.get("/metrics").await);
    let delta = |k: &str| get(k, &after) - get(k, &before);
    assert_eq!(
        delta("reviews_http_requests_total{route=\"reviews\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        delta("reviews_http_requests_total{route=\"reviews\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        delta("reviews_http_requests_total{route=\"meta\",status=\"400\"}"),
        1.0
    );
    assert_eq!(
        delta("reviews_http_requests_total{route=\"unknown\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        delta("reviews_http_request_duration_seconds_count{route=\"reviews\"}"),
        4.0
    );
    assert_eq!(delta("reviews_cache_lookups_total{result=\"miss\"}"), 2.0);
    assert_eq!(delta("reviews_cache_lookups_total{result=\"hit_l1\"}"), 2.0);
    assert_eq!(delta("reviews_store_queries_total"), 2.0);
    assert_eq!(delta("reviews_store_duration_seconds_count"), 2.0);
    assert_eq!(
        get("reviews_http_in_flight", &after),
        1.0,
        "the scrape itself"
    );
    assert_eq!(
        get("reviews_redis_breaker_state", &after),
        -1.0,
        "no Redis configured"
    );
    assert!(get("process_resident_memory_bytes", &after) > 1e6);
    let inf = get(
        "reviews_http_request_duration_seconds_bucket{route=\"reviews\",le=\"+Inf\"}",
        &after,
    );
    assert_eq!(
        inf,
        get(
            "reviews_http_request_duration_seconds_count{route=\"reviews\"}",
            &after
        )
    );
}

/// A small validator for the JSON Schema subset the OpenAPI document uses.
fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return validate(spec, &spec["components"]["schemas"][name], value, at);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: {value} is not of type {types:?}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} not in {allowed:?}"));
    }
    if let Some(n) = value.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n < m)
        {
            return Err(format!("{at}: {n} below minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n > m)
        {
            return Err(format!("{at}: {n} above maximum"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
            || schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len > m)
        {
            return Err(format!("{at}: length {len} out of bounds"));
        }
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !obj.contains_key(required.as_str().unwrap()) {
                return Err(format!("{at}: missing {required}"));
            }
        }
        for (key, v) in obj {
            if let Some(names) = schema["propertyNames"]
                .get("enum")
                .and_then(Value::as_array)
                && !names.contains(&Value::from(key.as_str()))
            {
                return Err(format!("{at}: field name {key} not in {names:?}"));
            }
            match (
                props.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(sub), _) => validate(spec, sub, v, &format!("{at}.{key}"))?,
                (None, Some(Value::Bool(false))) => {
                    return Err(format!("{at}: undocumented field {key}"));
                }
                (None, Some(sub @ Value::Object(_))) => {
                    validate(spec, sub, v, &format!("{at}.{key}"))?
                }
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            validate(spec, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Documented path, method, real path, headers, body.
type Call<'a> = (&'a str, &'a str, String, Vec<(&'a str, &'a str)>, Vec<u8>);

#[tokio::test]
async fn openapi_describes_real_responses() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await;
    assert_eq!(doc.status, 200);
    let spec = doc.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let review = json!({"rating": 5, "summary": "Great", "body": "b".repeat(60), "recommend": true,
        "name": "Ava", "email": "ava@example.com", "photos": ["https://img.example/1.jpg"],
        "characteristics": common::characteristics(2, 5)});
    let atelier = json!({"product_id": "2", "rating": "5", "summary": null, "body": "b".repeat(60),
        "recommend": true, "name": "Ava", "email": "ava@example.com",
        "characteristics": common::characteristics(2, 4)});
    let bearer = format!("Bearer {}", common::ADMIN_TOKEN);
    let admin = ("Authorization", bearer.as_str());
    let unknown = app.set.products + 1;
    let cases: Vec<Call> = vec![
        (
            "/reviews/{product_id}",
            "get",
            "/reviews/2?count=20&sort=helpful".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews/{product_id}",
            "get",
            "/reviews/2?page=999".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews/{product_id}",
            "get",
            "/reviews/2?count=0".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews/{product_id}",
            "get",
            format!("/reviews/{unknown}"),
            vec![],
            vec![],
        ),
        (
            "/reviews/{product_id}",
            "post",
            "/reviews/2".into(),
            vec![("Content-Type", "application/json")],
            review.to_string().into_bytes(),
        ),
        (
            "/reviews/{product_id}",
            "post",
            "/reviews/2".into(),
            vec![("Content-Type", "application/json")],
            b"{\"rating\": 9}".to_vec(),
        ),
        (
            "/reviews/{product_id}",
            "post",
            "/reviews/2".into(),
            vec![("Content-Type", "text/plain")],
            b"hi".to_vec(),
        ),
        (
            "/reviews/{product_id}",
            "post",
            "/reviews/2".into(),
            vec![("Content-Type", "application/json")],
            b"{oops".to_vec(),
        ),
        (
            "/reviews/{product_id}",
            "post",
            format!("/reviews/{unknown}"),
            vec![("Content-Type", "application/json")],
            review.to_string().into_bytes(),
        ),
        (
            "/reviews/{product_id}/meta",
            "get",
            "/reviews/2/meta".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews/{product_id}/meta",
            "get",
            "/reviews/0/meta".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews/{review_id}/helpful",
            "put",
            "/reviews/1/helpful".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews/{review_id}/report",
            "put",
            "/reviews/99999999/report".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews",
            "get",
            "/reviews/?product_id=2&count=20&sort=relevance".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews",
            "get",
            "/reviews?product_id=2&page=999".into(),
            vec![],
            vec![],
        ),
        ("/reviews", "get", "/reviews?page=2".into(), vec![], vec![]),
        (
            "/reviews",
            "get",
            format!("/reviews?product_id={unknown}"),
            vec![],
            vec![],
        ),
        (
            "/reviews",
            "post",
            "/reviews".into(),
            vec![("Content-Type", "application/json")],
            atelier.to_string().into_bytes(),
        ),
        (
            "/reviews",
            "post",
            "/reviews/".into(),
            vec![("Content-Type", "application/json")],
            b"{\"rating\": 9}".to_vec(),
        ),
        (
            "/reviews/meta",
            "get",
            "/reviews/meta?product_id=2".into(),
            vec![],
            vec![],
        ),
        (
            "/reviews/meta",
            "get",
            format!("/reviews/meta/?product_id={unknown}"),
            vec![],
            vec![],
        ),
        (
            "/admin/reviews/{review_id}/response",
            "put",
            "/admin/reviews/3/response".into(),
            vec![("Content-Type", "application/json"), admin],
            b"{\"response\": \"Thank you!\"}".to_vec(),
        ),
        (
            "/admin/reviews/{review_id}/response",
            "put",
            "/admin/reviews/3/response".into(),
            vec![("Content-Type", "application/json"), admin],
            b"{\"response\": \" \"}".to_vec(),
        ),
        ("/healthz", "get", "/healthz".into(), vec![], vec![]),
        ("/readyz", "get", "/readyz".into(), vec![], vec![]),
        (
            "/products",
            "get",
            "/products?query=shoes&count=3".into(),
            vec![],
            vec![],
        ),
        (
            "/products",
            "get",
            "/products?count=51".into(),
            vec![],
            vec![],
        ),
        (
            "/products/{product_id}",
            "get",
            "/products/2".into(),
            vec![],
            vec![],
        ),
        (
            "/products/{product_id}",
            "get",
            format!("/products/{unknown}"),
            vec![],
            vec![],
        ),
        (
            "/photos/{tag}/{name}",
            "get",
            format!("/photos/{}/p2.svg", app.set.tag()),
            vec![],
            vec![],
        ),
        (
            "/photos/{tag}/{name}",
            "get",
            "/photos/00000000/p2.svg".into(),
            vec![],
            vec![],
        ),
        (
            "/photos/{tag}/{name}",
            "get",
            "/photos/zz/1.svg".into(),
            vec![],
            vec![],
        ),
    ];
    for (template, method, path, headers, body) in cases {
        let resp = app
            .request(&method.to_uppercase(), &path, &headers, &body)
            .await;
        let documented = &spec["paths"][template][method]["responses"][resp.status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {} which is not documented",
            resp.status
        );
        if resp.body.is_empty() {
            assert!(
                documented.get("content").is_none(),
                "{method} {path}: documented body missing"
            );
            continue;
        }
        if documented["content"].get("image/svg+xml").is_some() {
            assert_eq!(resp.header("content-type"), Some("image/svg+xml"));
            assert!(resp.body.starts_with(b"<svg "), "{method} {path}");
            continue;
        }
        let schema = &documented["content"]["application/json"]["schema"];
        validate(&spec, schema, &resp.json(), &format!("{method} {path}")).unwrap();
    }
    // Every documented path answers something other than 404-for-unknown-path.
    for template in spec["paths"].as_object().unwrap().keys() {
        let path = template
            .replace("{product_id}", "2")
            .replace("{review_id}", "2")
            .replace("{tag}", &app.set.tag())
            .replace("{name}", "p2.svg");
        let resp = app.request("OPTIONS", &path, &[], b"").await;
        assert_eq!(resp.status, 204, "OPTIONS {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_past_the_bound_is_shed_with_503_and_recovers() {
    let app = TestApp::start(Options {
        max_in_flight: 4,
        ..Options::default()
    })
    .await;
    app.service.store().set_delay(Duration::from_millis(300));
    let flood: Vec<_> = (1..=40)
        .map(|p| {
            let addr = app.addr;
            tokio::spawn(async move {
                common::request(addr, "GET", &format!("/reviews/{p}"), &[], b"").await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200, "health checks are never shed");
    let (mut ok, mut shed) = (0, 0);
    for resp in flood {
        let resp = resp.await.unwrap();
        match resp.status {
            200 => ok += 1,
            503 => {
                shed += 1;
                assert_eq!(resp.header("retry-after"), Some("1"));
                assert!(
                    resp.error()
                        .starts_with("overloaded: more than 4 requests in flight")
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 4 && shed >= 20, "ok {ok}, shed {shed}");
    let m = metrics(&app.get("/metrics").await);
    assert_eq!(m["reviews_http_shed_total"], shed as f64);
    app.service.store().set_delay(Duration::ZERO);
    assert_eq!(
        app.get("/reviews/41").await.status,
        200,
        "serving again after the flood"
    );
}

/// Runs the binary with JSON logs and `filter`, makes one request with a
/// request id, stops it, and returns its log lines.
async fn json_log_of_one_request(dir: &std::path::Path, filter: &str) -> Vec<Value> {
    let data = dir.join("data");
    let args = [
        "--workers",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--demo-records",
        "500",
        "--log-format",
        "json",
    ];
    let mut proc = Proc::start_with_log(env!("CARGO_BIN_EXE_reviews"), &args, dir, filter);
    let addr = proc.wait_listening(Duration::from_secs(60));
    common::request(
        addr,
        "GET",
        "/reviews/1",
        &[("X-Request-Id", "req-42")],
        b"",
    )
    .await;
    proc.signal("TERM");
    assert!(proc.wait_exit(Duration::from_secs(15)).success());
    proc.stderr()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test]
async fn logs_are_json_lines_and_the_access_log_is_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = json_log_of_one_request(dir.path(), "info,reviews::access=off").await;
    let listening = |l: &Value| {
        l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on"))
    };
    assert!(quiet.iter().any(listening));
    assert!(
        quiet.iter().all(|l| l["target"] != "reviews::access"),
        "access log is off"
    );

    let loud = json_log_of_one_request(dir.path(), "info,reviews::access=info").await;
    let access: Vec<&Value> = loud
        .iter()
        .filter(|l| l["target"] == "reviews::access")
        .collect();
    assert_eq!(access.len(), 1, "one line per request");
    assert_eq!(access[0]["fields"]["status"], 200);
    assert!(
        access[0]["fields"]["request_id"]
            .as_str()
            .unwrap()
            .contains("req-42")
    );
}
