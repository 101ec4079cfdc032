//! The prover node's parts against a real chain and a real pricing service.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use alloy::primitives::U256;
use prover_node::{
    bond::{BondAction, BondError, BondManager},
    pricing::{EpochToPrice, Pricing, QuoteProvider},
};
use rollup_l1::{EscrowContract, TokenContract, devchain::Anvil, testkit::TestChain};

mod bond {
    use super::*;

    fn manager(chain: &TestChain, index: usize, minimum: u64, target: u64) -> BondManager {
        let key = Anvil::dev_key(index);
        let provider = chain.anvil.wallet_provider(&key);
        BondManager::new(
            key.address(),
            TokenContract::new(chain.deployment.token, provider.clone()),
            EscrowContract::new(chain.deployment.escrow, provider),
            U256::from(minimum),
            U256::from(target),
        )
    }

    #[tokio::test]
    async fn below_the_minimum_it_tops_up_to_the_target_and_above_it_does_nothing() {
        let chain = TestChain::start().await;
        // The test chain's first prover has 50,000 deposited.
        let bonds = manager(&chain, 1, 100_000, 200_000);
        assert_eq!(
            bonds.ensure_bond(U256::ZERO).await.expect("tops up"),
            BondAction::ToppedUp { deposited: U256::from(150_000), deposit: U256::from(200_000) }
        );
        assert_eq!(
            bonds.ensure_bond(U256::ZERO).await.expect("checks"),
            BondAction::Sufficient { deposit: U256::from(200_000) }
        );
        // A quote whose bond exceeds the deposit: up to that bond.
        assert_eq!(
            bonds.ensure_bond(U256::from(300_000)).await.expect("tops up"),
            BondAction::ToppedUp { deposited: U256::from(100_000), deposit: U256::from(300_000) }
        );
    }

    #[tokio::test]
    async fn a_prover_without_allowance_approves_first() {
        let chain = TestChain::start().await;
        let fresh = Anvil::dev_key(5);
        let minter = TokenContract::new(chain.deployment.token, chain.anvil.wallet_provider(&Anvil::dev_key(0)));
        minter.mint(fresh.address(), U256::from(10_000)).await.expect("mints");
        let bonds = manager(&chain, 5, 1_000, 4_000);
        assert_eq!(
            bonds.ensure_bond(U256::ZERO).await.expect("approves and deposits"),
            BondAction::ToppedUp { deposited: U256::from(4_000), deposit: U256::from(4_000) }
        );
    }

    #[tokio::test]
    async fn not_enough_tokens_is_a_clear_error() {
        let chain = TestChain::start().await;
        let bonds = manager(&chain, 1, 10_000_000, 20_000_000);
        match bonds.ensure_bond(U256::ZERO).await {
            Err(BondError::InsufficientTokens { balance, needed, .. }) => {
                assert_eq!((balance, needed), (U256::from(950_000), U256::from(20_000_000 - 50_000)));
            }
            other => panic!("expected InsufficientTokens, got {other:?}"),
        }
    }
}

mod pricing {
    use super::*;

    fn epoch(total_fees: u64) -> EpochToPrice {
        EpochToPrice {
            epoch_number: 7,
            from_block: 29,
            end_block: 32,
            tx_count: 40,
            total_fees: U256::from(total_fees),
        }
    }

    /// A stub HTTP server answering `answers` in turn (the last one repeatedly), counting calls.
    async fn stub(answers: Vec<(u16, &'static str)>, delay: Duration) -> (reqwest::Url, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let app = axum::Router::new().fallback(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
            let (status, body) = answers[n.min(answers.len() - 1)];
            async move {
                tokio::time::sleep(delay).await;
                (axum::http::StatusCode::from_u16(status).expect("status"), body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr")).parse().expect("url");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, calls)
    }

    #[tokio::test]
    async fn the_real_quote_service_prices_an_epoch() {
        use clap::Parser;
        let config = quote_service::Config {
            overrides: vec![quote_service::policy::Override {
                path: vec!["epoch_duration_slots".into()],
                value: "4".into(),
            }],
            ..quote_service::Config::parse_from(["quote-service"])
        };
        let state = quote_service::AppState::new(config).expect("policy");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url: reqwest::Url = format!("http://{}", listener.local_addr().expect("addr")).parse().expect("url");
        tokio::spawn(quote_service::run(state, listener, std::future::pending()));
        let provider = QuoteProvider::http(url, Duration::from_secs(2), 2).expect("client");
        let pricing = provider.get_quote(&epoch(2_000_000_000_000_000_000)).await.expect("a quote");
        assert!(pricing.basis_point_fee >= 1 && !pricing.bond_amount.is_zero());
        assert_eq!(pricing.valid_until_slot, Some(U256::from(8 * 4 + 3)));
        // Fees below the cost: declined, no quote.
        assert_eq!(provider.get_quote(&epoch(10)).await, None);
    }

    #[tokio::test]
    async fn missing_fields_declines_and_failures_give_no_quote() {
        let (url, _) = stub(vec![(200, r#"{"basisPointFee":250}"#)], Duration::ZERO).await;
        assert_eq!(
            QuoteProvider::http(url, Duration::from_secs(1), 0).expect("client").get_quote(&epoch(1)).await,
            None
        );

        let (url, calls) = stub(vec![(422, r#"{"code":"fees_below_cost"}"#)], Duration::ZERO).await;
        let provider = QuoteProvider::http(url, Duration::from_secs(1), 3).expect("client");
        assert_eq!(provider.get_quote(&epoch(1)).await, None);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a decline is not retried");

        let (url, calls) = stub(vec![(500, "boom")], Duration::ZERO).await;
        assert_eq!(
            QuoteProvider::http(url, Duration::from_secs(1), 2).expect("client").get_quote(&epoch(1)).await,
            None
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3, "bounded retries");

        let (url, _) = stub(vec![(200, r#"{"basisPointFee":1,"bondAmount":"1"}"#)], Duration::from_secs(3)).await;
        let slow = QuoteProvider::http(url, Duration::from_millis(200), 0).expect("client");
        assert_eq!(slow.get_quote(&epoch(1)).await, None, "a timeout is no quote");
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried() {
        let (url, calls) =
            stub(vec![(503, "busy"), (200, r#"{"basisPointFee":"300","bondAmount":"0x10"}"#)], Duration::ZERO).await;
        let pricing = QuoteProvider::http(url, Duration::from_secs(1), 2).expect("client").get_quote(&epoch(1)).await;
        assert_eq!(
            pricing,
            Some(Pricing { basis_point_fee: 300, bond_amount: U256::from(16), valid_until_slot: None })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_simple_provider_answers_its_settings() {
        let simple = QuoteProvider::Simple { basis_point_fee: 100, bond_amount: U256::from(1000) };
        assert_eq!(
            simple.get_quote(&epoch(1)).await,
            Some(Pricing { basis_point_fee: 100, bond_amount: U256::from(1000), valid_until_slot: None })
        );
    }
}
