//! docker-compose.yml cannot be run here (no container engine); what can be checked without one
//! is checked: its shape, its dependencies and health checks, that every command is a binary of
//! this workspace, and that the rollup address it hard-codes is where `deploy-contracts` puts
//! the rollup on a fresh anvil.

use std::{collections::BTreeSet, path::PathBuf, process::Command};

use rollup_l1::devchain::{Anvil, DEV_KEYS};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..")
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    let mut value: Value = yaml_serde::from_str(&text).expect("valid YAML");
    resolve_merges(&mut value);
    value
}

/// Applies YAML merge keys (`<<: *anchor`) as Compose does: the merged mapping's keys, unless the
/// mapping sets them itself.
fn resolve_merges(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(mut base)) = map.remove("<<") {
                for (key, v) in std::mem::take(map) {
                    base.insert(key, v);
                }
                *map = base;
            }
            map.values_mut().for_each(resolve_merges);
        }
        Value::Array(items) => items.iter_mut().for_each(resolve_merges),
        _ => {}
    }
}

/// The binaries the workspace builds (the Dockerfile copies these).
fn workspace_binaries() -> BTreeSet<String> {
    ["quote-service", "coordination-node", "prover-node", "proposer", "deploy-contracts", "quote-tool", "devnet"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn services_depend_on_healthy_or_finished_services_and_run_our_binaries() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    let mut ours = 0;
    for (name, service) in services {
        if let Some(deps) = service["depends_on"].as_object() {
            for (dep, condition) in deps {
                let target = services.get(dep).unwrap_or_else(|| panic!("{name} depends on unknown {dep}"));
                match condition["condition"].as_str() {
                    Some("service_healthy") => {
                        assert!(
                            target["healthcheck"].is_object(),
                            "{name} waits for {dep} to be healthy; it has no healthcheck"
                        )
                    }
                    Some("service_completed_successfully") => {
                        assert_eq!(target["restart"], "no", "{dep} runs once")
                    }
                    other => panic!("{name} -> {dep}: unexpected condition {other:?}"),
                }
            }
        }
        if service["build"].is_string()
            && let Some(command) = service["command"].get(0).and_then(Value::as_str)
        {
            ours += 1;
            assert!(workspace_binaries().contains(command), "{name} runs {command}, not a binary of this workspace");
            let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
            assert!(dockerfile.contains(&format!("target/release/{command}")), "the image contains {command}");
        }
    }
    assert_eq!(ours, 6, "deploy, quote-service, node, two provers and the proposer run our image");
}

#[tokio::test]
async fn the_hard_coded_rollup_address_is_where_deploy_contracts_puts_it() {
    let anvil = Anvil::spawn().await.expect("anvil");
    let output = Command::new(env!("CARGO_BIN_EXE_deploy-contracts"))
        .env("L1_RPC_URL", anvil.endpoint().as_str())
        .env("DEPLOYER_PRIVATE_KEY", DEV_KEYS[0])
        .env("FUND_ACCOUNTS", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
        .output()
        .expect("deploy-contracts runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let deployed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let compose = compose();
    let expected = compose["x-app"]["environment"]["ROLLUP_ADDRESS"].as_str().expect("ROLLUP_ADDRESS");
    assert_eq!(deployed["rollupAddress"], expected);
}
