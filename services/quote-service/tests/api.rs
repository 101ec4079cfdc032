//! The quote service over real HTTP on a free port: pricing, declines, the requests clients
//! really send, bad input, policy reloads and the OpenAPI lock.

use std::{path::PathBuf, time::Duration};

use quote_service::{
    AppState, Config,
    api::QuoteResponse,
    policy::{Override, ValidityFrom},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use service_kit::ErrorBody;

/// A policy with round numbers: cost = 1000 + 100/block + 10/tx, margin 10 %, fee 1..5000 bps,
/// bond fixed at 777, 32-slot epochs, 4 slots of validity.
const POLICY: &str = r#"
epoch_duration_slots = 32
validity_slots = 4
[cost]
per_epoch = 1000
per_block = 100
per_tx = 10
[fee]
margin_bps = 1000
min_bps = 1
max_bps = 5000
[limits]
max_tx_count = 10000
max_blocks = 64
[bond]
rule = "fixed"
amount = "777"
"#;

/// The service's configuration for tests: a policy file checked every `poll_ms`.
fn config(policy: &std::path::Path, poll_ms: u64) -> Config {
    Config {
        listen_addr: "127.0.0.1:0".parse().expect("addr"),
        policy: Some(policy.to_owned()),
        policy_poll_ms: poll_ms,
        request_timeout_ms: 5_000,
        body_limit: 16 * 1024,
        log_format: Default::default(),
        overrides: vec![],
    }
}

struct TestApp {
    base: String,
    client: reqwest::Client,
    policy_file: PathBuf,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    async fn start() -> Self {
        Self::start_with(POLICY, vec![]).await
    }

    async fn start_with(policy: &str, overrides: Vec<Override>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let policy_file = dir.path().join("policy.toml");
        std::fs::write(&policy_file, policy).expect("write policy");
        let config = Config { overrides, ..config(&policy_file, 20) };
        let state = AppState::new(config).expect("policy loads");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            quote_service::run(state, listener, std::future::pending()).await.expect("serves");
        });
        let app = Self { base, client: reqwest::Client::new(), policy_file, _dir: dir, _server: server };
        app.wait_healthy().await;
        app
    }

    async fn wait_healthy(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.client.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the service did not become healthy");
    }

    async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (StatusCode, String) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        (r.status(), r.text().await.expect("body"))
    }

    async fn quote(&self, body: &Value) -> Result<QuoteResponse, (StatusCode, ErrorBody)> {
        let (status, text) = self.post_raw("/quote", "application/json", body.to_string()).await;
        if status == StatusCode::OK {
            Ok(serde_json::from_str(&text).expect("a quote"))
        } else {
            Err((status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("an error envelope: {text}"))))
        }
    }

    async fn get_json(&self, path: &str) -> Value {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request").json().await.expect("json")
    }

    async fn get_text(&self, path: &str) -> String {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request").text().await.expect("text")
    }

    /// Waits until the policy in force has `version`.
    async fn wait_policy_version(&self, version: u64) -> Value {
        for _ in 0..300 {
            let policy = self.get_json("/policy").await;
            if policy["version"] == version {
                return policy;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("policy version {version} never came into force");
    }
}

/// 2 blocks, 10 txs: cost 1000 + 200 + 100 = 1300, target 1430.
fn epoch(total_fees: &str) -> Value {
    json!({"epochNumber": 5, "fromBlock": 11, "endBlock": 12, "txCount": 10, "totalFees": total_fees})
}

mod pricing {
    use super::*;

    #[tokio::test]
    async fn the_fee_covers_cost_plus_margin_rounded_up() {
        let app = TestApp::start().await;
        // 1430 of 100000 is 143 bps exactly.
        let q = app.quote(&epoch("100000")).await.expect("quoted");
        assert_eq!(
            q,
            QuoteResponse {
                basis_point_fee: 143,
                bond_amount: "777".into(),
                valid_until_slot: "195".into(),
                valid_until_slot_from: None,
            }
        );
        // 1430 of 100001: 142.998… rounds up to 143, so the payout (rounded down) is 1430.
        let q = app.quote(&epoch("100001")).await.expect("quoted");
        assert_eq!(q.basis_point_fee, 143);
        // 1430 of 99999: 143.001… rounds up to 144.
        assert_eq!(app.quote(&epoch("99999")).await.expect("quoted").basis_point_fee, 144);
    }

    #[tokio::test]
    async fn valid_until_slot_is_absolute_from_the_epoch() {
        let app = TestApp::start().await;
        let mut body = epoch("100000");
        body["epochNumber"] = json!(0);
        assert_eq!(app.quote(&body).await.expect("quoted").valid_until_slot, "35");
        body["epochNumber"] = json!(100);
        assert_eq!(app.quote(&body).await.expect("quoted").valid_until_slot, (101 * 32 + 3).to_string());
    }

    #[tokio::test]
    async fn a_requested_valid_until_slot_shortens_the_validity_but_never_extends_it() {
        let app = TestApp::start().await;
        // Epoch 0's claim window opens at slot 32; the policy keeps a quote valid through 35.
        let mut body = epoch("100000");
        body["epochNumber"] = json!(0);
        body["validUntilSlot"] = json!(33);
        let q = app.quote(&body).await.expect("quoted");
        assert_eq!((q.valid_until_slot.as_str(), q.valid_until_slot_from), ("33", Some(ValidityFrom::Request)));
        body["validUntilSlot"] = json!(35);
        let q = app.quote(&body).await.expect("quoted");
        assert_eq!((q.valid_until_slot.as_str(), q.valid_until_slot_from), ("35", Some(ValidityFrom::Request)));
        body["validUntilSlot"] = json!("100");
        let q = app.quote(&body).await.expect("quoted");
        assert_eq!((q.valid_until_slot.as_str(), q.valid_until_slot_from), ("35", Some(ValidityFrom::Policy)));
        body["validUntilSlot"] = json!(31);
        let (status, error) = app.quote(&body).await.expect_err("declined");
        assert_eq!((status, error.code.as_ref()), (StatusCode::UNPROCESSABLE_ENTITY, "validity_before_claim_window"));
        body["validUntilSlot"] = json!("soon");
        let (status, text) = app.post_raw("/quote", "application/json", body.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        let error: Value = serde_json::from_str(&text).expect("json");
        assert_eq!((error["code"].as_str(), error["field"].as_str()), (Some("invalid_number"), Some("validUntilSlot")));
    }

    #[tokio::test]
    async fn aztecs_http_quote_provider_request_gets_a_usable_answer() {
        let app = TestApp::start().await;
        // As Aztec's HttpQuoteProvider sends it: toBlock, totalFees as a decimal string, and
        // posted to the bare base URL.
        let body = json!({"epochNumber": 5, "fromBlock": 11, "toBlock": 12, "txCount": 10, "totalFees": "100000"});
        let (status, text) = app.post_raw("/", "application/json", body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let answer: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(answer, json!({"basisPointFee": 143, "bondAmount": "777", "validUntilSlot": "195"}));
    }

    #[tokio::test]
    async fn numbers_in_every_form() {
        let app = TestApp::start().await;
        let body =
            json!({"epochNumber": "0x5", "fromBlock": "11", "endBlock": 12, "txCount": "0xa", "totalFees": "0x186a0"});
        assert_eq!(app.quote(&body).await.expect("quoted").basis_point_fee, 143);
    }

    #[test]
    fn the_payout_never_undercuts_the_cost_and_nothing_is_ever_zero() {
        use alloy_primitives::U256;
        use quote_service::policy::{EpochSummary, Policy};
        let policy = Policy::from_toml(POLICY, &[]).expect("valid");
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut quoted = 0;
        for _ in 0..20_000 {
            let from = next() % 1_000;
            let e = EpochSummary {
                epoch_number: next() % 1_000,
                from_block: from,
                end_block: from + next() % 64,
                tx_count: next() % 10_000,
                total_fees: U256::from(next() % 10_000_000),
            };
            if let Ok(p) = policy.price(&e, None) {
                quoted += 1;
                assert!(p.payout >= p.cost, "{e:?} → {p:?}");
                assert_eq!(p.payout, e.total_fees * U256::from(p.basis_point_fee) / U256::from(10_000));
                // Cost plus the 10 % margin, rounded up.
                assert!(p.payout * U256::from(10) >= p.cost * U256::from(11), "{e:?} → {p:?}");
                assert!(p.basis_point_fee >= 1 && p.basis_point_fee <= 5_000);
                assert!(!p.bond_amount.is_zero());
            }
        }
        assert!(quoted > 1_000, "the sample should mostly be quotable ({quoted})");
    }

    #[tokio::test]
    async fn min_fee_and_payout_multiple_bond() {
        let policy = POLICY.replace("min_bps = 1", "min_bps = 300").replace(
            "rule = \"fixed\"\namount = \"777\"",
            "rule = \"payout_multiple\"\nmultiple = 2.5\nmin = 100\nmax = 5000",
        );
        let app = TestApp::start_with(&policy, vec![]).await;
        // 143 bps needed, 300 is the floor: payout 3000, bond 2.5 × 3000 = 7500 clamped to 5000.
        let q = app.quote(&epoch("100000")).await.expect("quoted");
        assert_eq!((q.basis_point_fee, q.bond_amount.as_str()), (300, "5000"));
        // Inside the clamp the bond is 2.5 × the payout.
        let q = app.quote(&epoch("20000")).await.expect("quoted");
        // 1430 of 20000 = 715 bps; payout 1430; bond 3575.
        assert_eq!((q.basis_point_fee, q.bond_amount.as_str()), (715, "3575"));
    }
}

mod declines {
    use super::*;

    async fn declined(app: &TestApp, body: &Value) -> ErrorBody {
        let (status, body) = app.quote(body).await.expect_err("declined");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        body
    }

    #[tokio::test]
    async fn each_reason_has_its_code_and_is_counted() {
        let app = TestApp::start().await;
        let mut many_txs = epoch("100000000");
        many_txs["txCount"] = json!(10_001);
        assert_eq!(declined(&app, &many_txs).await.code, "too_many_txs");
        let mut many_blocks = epoch("100000000");
        many_blocks["endBlock"] = json!(11 + 64);
        assert_eq!(declined(&app, &many_blocks).await.code, "too_many_blocks");
        assert_eq!(declined(&app, &epoch("1299")).await.code, "fees_below_cost");
        assert_eq!(declined(&app, &epoch("0")).await.code, "fees_below_cost");
        // Covers the cost, but cost + margin needs more than 5000 bps.
        let body = declined(&app, &epoch("2000")).await;
        assert_eq!(body.code, "fee_above_maximum");
        assert!(body.message.contains("7150") && body.message.contains("5000"), "{}", body.message);

        let metrics = app.get_text("/metrics").await;
        for reason in ["too_many_txs", "too_many_blocks", "fee_above_maximum"] {
            assert!(metrics.contains(&format!("quote_service_declines_total{{reason=\"{reason}\"}} 1")), "{metrics}");
        }
        assert!(metrics.contains("quote_service_declines_total{reason=\"fees_below_cost\"} 2"), "{metrics}");
    }
}

mod bad_input {
    use super::*;

    async fn refused(app: &TestApp, content_type: &str, body: impl Into<reqwest::Body>) -> (StatusCode, ErrorBody) {
        let (status, text) = app.post_raw("/quote", content_type, body).await;
        let envelope: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|_| panic!("envelope: {status} {text}"));
        assert!(status.is_client_error(), "{status} {text}");
        (status, envelope)
    }

    #[tokio::test]
    async fn every_bad_body_gets_a_4xx_with_a_stable_code() {
        let app = TestApp::start().await;
        let json = "application/json";
        let cases: Vec<(&str, String, StatusCode, &str)> = vec![
            (json, "{".into(), StatusCode::BAD_REQUEST, "invalid_json"),
            (json, "[]".into(), StatusCode::BAD_REQUEST, "invalid_json"),
            (json, "".into(), StatusCode::BAD_REQUEST, "invalid_json"),
            ("text/plain", epoch("1").to_string(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            (json, r#"{"endBlock":1,"toBlock":2}"#.into(), StatusCode::BAD_REQUEST, "invalid_json"),
            (json, format!("{}{}", "[".repeat(5000), "]".repeat(5000)), StatusCode::BAD_REQUEST, "invalid_json"),
            (
                json,
                format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000)),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
        ];
        for (content_type, body, status, code) in cases {
            let (got_status, envelope) = refused(&app, content_type, body.clone()).await;
            assert_eq!((got_status, envelope.code.as_ref()), (status, code), "{}", &body[..body.len().min(60)]);
        }
        let (status, envelope) = refused(&app, json, vec![0xffu8, 0xfe, 0x7b]).await;
        assert_eq!((status, envelope.code.as_ref()), (StatusCode::BAD_REQUEST, "invalid_json"));
    }

    #[tokio::test]
    async fn each_bad_field_is_named() {
        let app = TestApp::start().await;
        let with = |field: &str, value: Value| {
            let mut body = epoch("100000");
            body[field] = value;
            body
        };
        let mut missing = epoch("100000");
        missing.as_object_mut().expect("object").remove("txCount");
        let cases = [
            (missing, "missing_field", "txCount"),
            (with("totalFees", json!(-5)), "invalid_number", "totalFees"),
            (with("totalFees", json!("1.5")), "invalid_number", "totalFees"),
            (with("totalFees", json!(format!("1{}", "0".repeat(80)))), "invalid_number", "totalFees"),
            (with("epochNumber", json!("18446744073709551616")), "invalid_number", "epochNumber"),
            (with("fromBlock", json!(1.5)), "invalid_number", "fromBlock"),
            (with("txCount", json!({"n": 1})), "invalid_number", "txCount"),
        ];
        for (body, code, field) in cases {
            let (status, envelope) = app.quote(&body).await.expect_err("refused");
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!((envelope.code.as_ref(), envelope.field.as_deref()), (code, Some(field)), "{body}");
        }
        // Well-formed numbers that do not make an epoch: understood, not priceable.
        let (status, envelope) = app.quote(&with("endBlock", json!(10))).await.expect_err("refused");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!((envelope.code.as_ref(), envelope.field.as_deref()), ("invalid_block_range", Some("endBlock")));
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_use_the_envelope_too() {
        let app = TestApp::start().await;
        let r = app.client.get(format!("{}/nowhere", app.base)).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.json::<ErrorBody>().await.expect("envelope").code, "not_found");
        let r = app.client.get(format!("{}/quote", app.base)).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.json::<ErrorBody>().await.expect("envelope").code, "method_not_allowed");
    }
}

mod reload {
    use super::*;

    #[tokio::test]
    async fn a_changed_file_comes_into_force_without_a_restart() {
        let app = TestApp::start().await;
        assert_eq!(app.quote(&epoch("100000")).await.expect("quoted").bond_amount, "777");
        std::fs::write(&app.policy_file, POLICY.replace("amount = \"777\"", "amount = \"888\"")).expect("write");
        let policy = app.wait_policy_version(2).await;
        assert_eq!(policy["policy"]["bond"], json!({"rule": "fixed", "amount": "888"}));
        assert_eq!(app.quote(&epoch("100000")).await.expect("quoted").bond_amount, "888");
    }

    #[tokio::test]
    async fn a_bad_file_is_refused_and_the_old_policy_kept() {
        let app = TestApp::start().await;
        for bad in [
            POLICY.replace("min_bps = 1", "min_bps = 0"),
            POLICY.replace("max_bps = 5000", "max_bps = 10001"),
            POLICY.replace("amount = \"777\"", "amount = \"0\""),
            POLICY.replace("margin_bps", "margn_bps"),
            "this is not toml =".to_owned(),
        ] {
            std::fs::write(&app.policy_file, &bad).expect("write");
            // Wait for the reloader to have tried it.
            let before = app.get_text("/metrics").await;
            let refused_before = count(&before, "quote_service_policy_reloads_total{result=\"refused\"}");
            for _ in 0..300 {
                let now =
                    count(&app.get_text("/metrics").await, "quote_service_policy_reloads_total{result=\"refused\"}");
                if now > refused_before {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let policy = app.get_json("/policy").await;
            assert_eq!(policy["version"], 1, "refused: {bad}");
            assert_eq!(app.quote(&epoch("100000")).await.expect("still quoting").bond_amount, "777");
        }
        // A good file after bad ones is taken.
        std::fs::write(&app.policy_file, POLICY.replace("amount = \"777\"", "amount = \"999\"")).expect("write");
        app.wait_policy_version(2).await;
    }

    fn count(metrics: &str, series: &str) -> u64 {
        metrics.lines().find_map(|l| l.strip_prefix(series).map(|v| v.trim().parse().unwrap_or(0))).unwrap_or(0)
    }

    #[tokio::test]
    async fn sighup_reloads() {
        // A long poll interval, so only the signal can explain a reload.
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("policy.toml");
        std::fs::write(&file, POLICY).expect("write");
        let state = AppState::new(config(&file, 3_600_000)).expect("loads");
        let store = state.policy.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        tokio::spawn(quote_service::run(state, listener, std::future::pending()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        std::fs::write(&file, POLICY.replace("amount = \"777\"", "amount = \"555\"")).expect("write");
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        for _ in 0..300 {
            if store.current().version == 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("SIGHUP did not reload the policy");
    }

    #[tokio::test]
    async fn environment_overrides_apply_on_top_of_the_file() {
        let overrides = Override::from_env_vars([
            ("QUOTE_POLICY__BOND__AMOUNT".to_owned(), "4242".to_owned()),
            ("QUOTE_POLICY__VALIDITY_SLOTS".to_owned(), "1".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ]);
        let app = TestApp::start_with(POLICY, overrides).await;
        let q = app.quote(&epoch("100000")).await.expect("quoted");
        assert_eq!((q.bond_amount.as_str(), q.valid_until_slot.as_str()), ("4242", "192"));
        let policy = app.get_json("/policy").await;
        assert_eq!(policy["overrides"], json!(["bond.amount", "validity_slots"]));
    }
}

mod operations {
    use super::*;

    #[tokio::test]
    async fn health_readiness_metrics_and_docs() {
        let app = TestApp::start().await;
        assert_eq!(app.get_json("/healthz").await, json!({"status": "ok"}));
        assert_eq!(app.get_json("/readyz").await, json!({"status": "ok"}));
        app.quote(&epoch("100000")).await.expect("quoted");
        let metrics = app.get_text("/metrics").await;
        assert!(metrics.contains("quote_service_quotes_total 1"), "{metrics}");
        assert!(
            metrics.contains("quote_service_http_requests_total{method=\"POST\",route=\"/quote\",status=\"200\"} 1")
        );
        assert!(metrics.contains("quote_service_http_request_duration_seconds_bucket"));
        let docs = app.client.get(format!("{}/docs/", app.base)).send().await.expect("request");
        assert_eq!(docs.status(), StatusCode::OK);
        assert!(docs.text().await.expect("html").contains("swagger"), "the UI is served from the binary");
    }

    /// The committed `openapi.json` is what the service serves. After an intended API change:
    /// `UPDATE_OPENAPI=1 cargo test -p quote-service --test api openapi`.
    #[tokio::test]
    async fn openapi_lock() {
        let app = TestApp::start().await;
        let served = app.get_json("/openapi.json").await;
        assert_eq!(served, serde_json::to_value(quote_service::openapi()).expect("json"));
        let path = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("openapi.json");
        let pretty = serde_json::to_string_pretty(&served).expect("json") + "\n";
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &pretty).expect("write openapi.json");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == pretty,
            "services/quote-service/openapi.json differs from the served spec; see this test's doc"
        );
        for path in ["/quote", "/", "/policy", "/healthz", "/readyz", "/metrics"] {
            assert!(served["paths"][path].is_object(), "{path} is documented");
        }
        // Every error answer says which codes it can carry; a decline, each of the policy's.
        for (path, item) in served["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = operation["responses"].as_object().expect("responses");
                for (status, response) in responses.iter().filter(|(status, _)| status.as_str() >= "400") {
                    let codes =
                        response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["code"]["enum"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                    assert!(!codes.is_empty(), "{method} {path} {status} documents its codes");
                    if status == "422" {
                        for decline in quote_service::policy::Decline::CODES {
                            assert!(codes.contains(&decline.into()), "{method} {path} 422 lists {decline}");
                        }
                    }
                }
            }
        }
    }
}
