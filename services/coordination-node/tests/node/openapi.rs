//! The API description: the served spec is generated from the routes; the committed
//! `openapi.yaml` at the repository root is that spec; and it is a well-formed OpenAPI document.

use std::{collections::BTreeSet, path::PathBuf};

use serde_json::Value;

use crate::app::NodeApp;

fn committed_path() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../openapi.yaml")
}

/// After an intended API change: `UPDATE_OPENAPI=1 cargo test -p coordination-node --test node openapi`.
#[tokio::test]
async fn the_committed_spec_is_the_served_one() {
    let app = NodeApp::sqlite().await;
    let (_, served) = app.node.get("/openapi.json").await;
    let generated = coordination_node::openapi();
    assert_eq!(served, serde_json::to_value(&generated).expect("json"), "/openapi.json is the generated spec");
    let yaml = coordination_node::openapi_yaml().expect("yaml");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &yaml).expect("write openapi.yaml");
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(committed == yaml, "openapi.yaml differs from the served spec; see this test's doc to regenerate it");
    let docs = app.node.client.get(format!("{}/docs/", app.node.base)).send().await.expect("docs");
    assert!(docs.status().is_success(), "the browsable docs are served");
}

#[test]
fn the_committed_spec_is_well_formed() {
    let text = std::fs::read_to_string(committed_path()).expect("openapi.yaml is committed");
    // It reads back as an OpenAPI document…
    let _: utoipa::openapi::OpenApi = yaml_serde::from_str(&text).expect("an OpenAPI document");
    let spec: Value = yaml_serde::from_str(&text).expect("YAML");
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "an OpenAPI 3 version");
    assert!(spec["info"]["title"].is_string() && spec["info"]["version"].is_string());

    // …whose every reference resolves…
    let schemas: BTreeSet<String> =
        spec["components"]["schemas"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains(name), "$ref {r} has no schema");
    }

    // …and whose every operation is named, answers something, and declares its path parameters.
    let paths = spec["paths"].as_object().expect("paths");
    let mut operation_ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has an operationId"));
            assert!(operation_ids.insert(id.to_owned()), "operationId {id} is unique");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has responses");
            for segment in path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter().any(|p| p["name"] == segment && p["in"] == "path" && p["required"] == true)
                });
                assert!(declared, "{method} {path} declares its path parameter {segment}");
            }
        }
    }
    for route in
        ["/epoch-proof-quotes", "/epoch-proof-quotes/{id}", "/epochs/{epoch}", "/claims", "/readyz", "/metrics"]
    {
        assert!(paths.contains_key(route), "{route} is documented");
    }

    // Every error answer says which codes it can carry: a refused quote, any refusal an HTTP
    // submission can get (gossip-only verdicts are not among them).
    let submit = error_codes(&spec, "/epoch-proof-quotes", "post");
    let refused: BTreeSet<&str> = submit["422"].iter().chain(&submit["400"]).map(String::as_str).collect();
    for code in node_api::RefusalCode::ALL {
        assert_eq!(refused.contains(code.as_str()), code.over_http(), "{code} is documented where it can be answered");
    }
    assert_eq!(submit["429"], ["rate_limited"]);
    assert_eq!(error_codes(&spec, "/epoch-proof-quotes/{id}", "get")["404"], ["quote_not_found"]);
}

/// The codes each error answer (status 4xx or 5xx, in the error envelope) of an operation
/// documents; fails if one of them documents none.
fn error_codes(spec: &Value, path: &str, method: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let responses = spec["paths"][path][method]["responses"].as_object().expect("responses");
    let mut codes = std::collections::BTreeMap::new();
    for (status, response) in responses.iter().filter(|(status, _)| status.as_str() >= "400") {
        let schema = &response["content"]["application/json"]["schema"];
        if schema["$ref"].as_str().is_some_and(|r| !r.ends_with("/ErrorBody")) {
            continue; // an answer with a body of its own (`/readyz`'s readiness)
        }
        let listed: Vec<String> = schema["allOf"]
            .as_array()
            .and_then(|parts| parts.iter().find_map(|p| p["properties"]["code"]["enum"].as_array()))
            .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        assert!(!listed.is_empty(), "{method} {path} {status} documents the codes it can carry");
        codes.insert(status.clone(), listed);
    }
    codes
}

#[test]
fn every_error_answer_documents_its_codes() {
    let text = std::fs::read_to_string(committed_path()).expect("openapi.yaml is committed");
    let spec: Value = yaml_serde::from_str(&text).expect("YAML");
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            error_codes(&spec, path, method);
        }
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    if let Some(r) = v.as_str() {
                        out.push(r.to_owned());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The spec's example quote is a real one: it verifies, signed by its prover for its rollup on
/// the local chain (31337), and the example answer carries its id.
#[test]
fn the_example_quote_verifies() {
    let text = std::fs::read_to_string(committed_path()).expect("openapi.yaml is committed");
    let spec: Value = yaml_serde::from_str(&text).expect("YAML");
    let example = spec["components"]["schemas"]["SignedQuoteJson"]["example"].clone();
    let quote: epoch_quote::SignedEpochProofQuote = serde_json::from_value(example).expect("a signed quote");
    let domain = epoch_quote::QuoteDomain::new(31337, quote.quote.rollup_address);
    assert_eq!(quote.verify(&domain).expect("verifies"), quote.quote.prover);
    let answer_id = spec["components"]["schemas"]["SubmitResponse"]["properties"]["id"]["example"].as_str();
    assert_eq!(answer_id, Some(quote.id(&domain).to_string().as_str()), "the example answer is the example quote's");
}
