//! The local chain's start-up: a port that is taken is named, with the process that holds it.

use rollup_l1::devchain::{Anvil, AnvilOptions, DevChainError};

#[tokio::test]
async fn a_taken_port_is_refused_naming_its_owner() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let error = Anvil::spawn_with(AnvilOptions { port, ..AnvilOptions::default() }).await.expect_err("refused");
    let DevChainError::PortInUse { port: refused, owner } = &error else { panic!("not a port error: {error}") };
    assert_eq!(*refused, port);
    let me = format!("pid {} (", std::process::id());
    assert!(owner.as_deref().is_some_and(|o| o.starts_with(&me)), "{error}");
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")) && message.contains("in use by pid"), "{message}");
}
