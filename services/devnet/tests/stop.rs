//! Stopping the devnet the way a service manager or `docker stop` does (SIGTERM) stops what it
//! started: its L1 is gone afterwards, so the next devnet can take the port.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn sigterm_stops_the_devnet_and_its_l1() {
    let dir = tempfile::tempdir().expect("work folder");
    let deployment = dir.path().join("devnet.json");
    let mut devnet = Command::new(env!("CARGO_BIN_EXE_devnet"))
        .args(["--l1-port", "0", "--node-port", "0", "--quote-service-port", "0", "--write-deployment"])
        .arg(&deployment)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("devnet starts");
    let started = Instant::now();
    let l1 = loop {
        let written = std::fs::read_to_string(&deployment).ok();
        if let Some(json) = written.and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok()) {
            break json["l1RpcUrl"].as_str().expect("l1RpcUrl").to_owned();
        }
        assert!(devnet.try_wait().expect("status").is_none(), "the devnet stopped before it was running");
        assert!(started.elapsed() < Duration::from_secs(180), "the devnet did not start in 3 minutes");
        std::thread::sleep(Duration::from_millis(200));
    };
    let l1 = l1.trim_start_matches("http://").trim_end_matches('/').to_owned();
    assert!(std::net::TcpStream::connect(&l1).is_ok(), "its L1 listens on {l1}");

    let sent = Command::new("kill").args(["-TERM", &devnet.id().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = devnet.try_wait().expect("status") {
            break status;
        }
        assert!(stopping.elapsed() < Duration::from_secs(30), "the devnet did not stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "it stops cleanly: {status}");
    assert!(std::net::TcpStream::connect(&l1).is_err(), "its L1 on {l1} stopped with it");
}
