//! The monitoring of `deploy/`: every metric the Grafana dashboard and the alert rules use is one
//! the running services export (scraped from a devnet: the node, the quote service, a prover
//! node), and Prometheus scrapes the services where docker-compose.yml runs them.

use std::{collections::BTreeSet, path::PathBuf};

use devnet::{Devnet, DevnetConfig};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The sample names an exposition can carry, from its `# TYPE` lines (a counter's samples end in
/// `_total`, a histogram's in `_bucket`, `_sum` and `_count`).
fn exported(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let Some((name, kind)) = rest.split_once(' ') else { continue };
        match kind {
            "counter" => names.insert(format!("{name}_total")),
            "histogram" => {
                names.extend(["_bucket", "_sum", "_count"].map(|suffix| format!("{name}{suffix}")));
                true
            }
            _ => names.insert(name.to_owned()),
        };
    }
    names
}

/// The metric names of the project's services in a PromQL expression.
fn metrics_in(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut i = 0;
    while i < bytes.len() {
        if ident(bytes[i]) && (i == 0 || !ident(bytes[i - 1])) {
            let end = (i..bytes.len()).find(|&j| !ident(bytes[j])).unwrap_or(bytes.len());
            let word = &expr[i..end];
            if ["coordination_node_", "quote_service_", "prover_node_"].iter().any(|p| word.starts_with(p)) {
                found.push(word.to_owned());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// Every `expr` under `value`.
fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(expr)) = map.get("expr") {
                out.push(expr.clone());
            }
            map.values().for_each(|v| exprs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// The metrics of the service at `addr`, scraped twice: the HTTP metrics exist once a request
/// was answered.
async fn scrape(addr: impl std::fmt::Display) -> String {
    let _ = reqwest::get(format!("http://{addr}/metrics")).await;
    let response = reqwest::get(format!("http://{addr}/metrics")).await.expect("metrics answer");
    assert!(response.status().is_success(), "{addr}: {}", response.status());
    response.text().await.expect("text")
}

#[tokio::test]
async fn the_dashboard_and_the_alerts_use_only_metrics_the_services_export() {
    let config = DevnetConfig { l1_port: 0, node_port: 0, quote_service_port: 0, ..DevnetConfig::default() };
    let devnet = Devnet::start(&config).await.expect("devnet starts");
    let mut available = exported(&scrape(devnet.node).await);
    available.extend(exported(&scrape(devnet.quote_service).await));
    assert_eq!(devnet.prover_metrics.len(), 2, "both provers serve metrics");
    available.extend(exported(&scrape(devnet.prover_metrics[0]).await));
    let summary = devnet.summary();
    assert!(summary.contains(&format!("http://{}/metrics", devnet.prover_metrics[1])), "{summary}");
    devnet.stop().await;

    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/prover-coordination.json")).expect("dashboard JSON");
    let alerts: Value =
        yaml_serde::from_str(&read("deploy/prometheus/coordination-node-alerts.yml")).expect("alerts YAML");
    for (file, document) in [("the dashboard", &dashboard), ("the alert rules", &alerts)] {
        let mut found = Vec::new();
        exprs(document, &mut found);
        assert!(!found.is_empty(), "{file} has expressions");
        let used: BTreeSet<String> = found.iter().flat_map(|e| metrics_in(e)).collect();
        let missing: Vec<&String> = used.difference(&available).collect();
        assert!(missing.is_empty(), "{file} uses metrics no service exports: {missing:?}");
        if file == "the dashboard" {
            for service in ["coordination_node_", "quote_service_", "prover_node_"] {
                assert!(used.iter().any(|m| m.starts_with(service)), "the dashboard shows {service}*");
            }
        }
    }
}

#[test]
fn prometheus_scrapes_each_service_where_compose_runs_it() {
    let compose: Value = yaml_serde::from_str(&read("docker-compose.yml")).expect("compose YAML");
    let services = compose["services"].as_object().expect("services");
    for name in ["prometheus", "grafana"] {
        assert_eq!(
            services[name]["profiles"],
            serde_json::json!(["monitoring"]),
            "{name} runs in the monitoring profile"
        );
        for volume in services[name]["volumes"].as_array().expect("volumes") {
            let source = volume.as_str().and_then(|v| v.split(':').next()).expect("a bind mount");
            assert!(root().join(source).exists(), "{name} mounts {source}, which exists");
        }
    }
    let prometheus: Value = yaml_serde::from_str(&read("deploy/prometheus/prometheus.yml")).expect("prometheus YAML");
    let mut jobs = 0;
    for job in prometheus["scrape_configs"].as_array().expect("scrape configs") {
        for target in job["static_configs"][0]["targets"].as_array().expect("targets") {
            let (host, port) = target.as_str().and_then(|t| t.split_once(':')).expect("host:port");
            let service = services.get(host).unwrap_or_else(|| panic!("{host} is a compose service"));
            // The service listens on that port: its listen (or metrics) address setting names it.
            let environment = service["environment"].as_object().expect("environment");
            let listens = environment.iter().any(|(name, value)| {
                (name.ends_with("_LISTEN_ADDR") || name.ends_with("_METRICS_ADDR"))
                    && value.as_str().is_some_and(|v| v.ends_with(&format!(":{port}")))
            });
            assert!(listens, "{host} listens on {port}: {environment:?}");
            jobs += 1;
        }
    }
    assert_eq!(jobs, 4, "the node, the quote service and both prover nodes");
}
