//! Quote verification rate per core, against the raw libsecp256k1 recovery rate measured in the
//! same run (the ceiling: verification is one recovery plus hashing).
//!
//! `cargo bench -p epoch-quote --bench verify` (set `BENCH_ROUND_MS` to lengthen the rounds).
//!
//! Each case runs single-threaded in short rounds, the cases interleaved round by round so that
//! noise from other work on the machine hits them alike; the figure is the median round, and the
//! ratio is the median of the per-round ratios.

#![allow(missing_docs)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use alloy_primitives::{U256, address};
use epoch_quote::{EpochProofQuote, QuoteDomain, QuoteSigner, SignedEpochProofQuote};
use secp256k1::{
    Message,
    ecdsa::{RecoverableSignature, RecoveryId},
};

const ROUNDS: usize = 9;

struct Case {
    name: &'static str,
    /// Runs `n` operations over the prepared inputs.
    run: Box<dyn FnMut(usize)>,
    rates: Vec<f64>,
}

fn measure(case: &mut Case, round: Duration) {
    // Grow the batch until one batch takes a measurable time, then time whole batches.
    let mut batch = 64;
    loop {
        let start = Instant::now();
        (case.run)(batch);
        if start.elapsed() > round / 20 {
            break;
        }
        batch *= 2;
    }
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < round {
        (case.run)(batch);
        done += batch;
    }
    case.rates.push(done as f64 / start.elapsed().as_secs_f64());
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let round = Duration::from_millis(std::env::var("BENCH_ROUND_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(400));
    let domain = QuoteDomain::new(31337, address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"));
    // 256 quotes from 16 provers, so no single input is cached in a way real traffic would not be.
    let quotes: Vec<SignedEpochProofQuote> = (0..256u64)
        .map(|i| {
            let mut key = [0u8; 32];
            key[24..].copy_from_slice(&(1000 + i % 16).to_be_bytes());
            let signer = QuoteSigner::from_bytes(key).expect("valid key");
            let quote = EpochProofQuote {
                prover: signer.address(),
                epoch_number: U256::from(i),
                epoch_init_block: U256::from(i * 32),
                epoch_final_block: U256::from(i * 32 + 31),
                total_fees: U256::from(10u64.pow(18) + i),
                rollup_address: domain.rollup(),
                basis_point_fee: 100 + i as u32,
                bond_amount: U256::from(5_000 + i),
                valid_until_slot: U256::from(i * 32 + 40),
            };
            signer.sign(quote, &domain)
        })
        .collect();
    let json: Vec<String> = quotes.iter().map(|q| serde_json::to_string(q).expect("json")).collect();
    let raw: Vec<(RecoverableSignature, Message)> = quotes
        .iter()
        .map(|q| {
            let bytes = q.signature.as_bytes();
            let sig = RecoverableSignature::from_compact(&bytes[..64], RecoveryId::from_u8_masked(bytes[64] - 27))
                .expect("valid signature");
            (sig, Message::from_digest(q.id(&domain).0))
        })
        .collect();
    let alloy: Vec<(alloy_primitives::Signature, alloy_primitives::B256)> = quotes
        .iter()
        .map(|q| {
            let sig = alloy_primitives::Signature::from_raw(q.signature.as_bytes()).expect("valid signature");
            (sig, q.id(&domain))
        })
        .collect();

    let mut cases = vec![
        Case {
            name: "raw libsecp256k1 recovery (secp256k1 crate)",
            run: Box::new({
                let raw = raw.clone();
                move |n| {
                    for i in 0..n {
                        let (sig, msg) = &raw[i % raw.len()];
                        black_box(black_box(sig).recover_ecdsa(*black_box(msg)).expect("recovers"));
                    }
                }
            }),
            rates: vec![],
        },
        Case {
            name: "quote verify (digest + recover + compare)",
            run: Box::new({
                let quotes = quotes.clone();
                move |n| {
                    for i in 0..n {
                        black_box(black_box(&quotes[i % quotes.len()]).verify(&domain).expect("verifies"));
                    }
                }
            }),
            rates: vec![],
        },
        Case {
            name: "quote JSON parse + verify",
            run: Box::new(move |n| {
                for i in 0..n {
                    let quote =
                        SignedEpochProofQuote::from_json(black_box(json[i % json.len()].as_bytes())).expect("parses");
                    black_box(quote.verify(&domain).expect("verifies"));
                }
            }),
            rates: vec![],
        },
        Case {
            name: "alloy k256 recovery (alloy's default backend)",
            run: Box::new(move |n| {
                for i in 0..n {
                    let (sig, hash) = &alloy[i % alloy.len()];
                    black_box(black_box(sig).recover_address_from_prehash(black_box(hash)).expect("recovers"));
                }
            }),
            rates: vec![],
        },
    ];

    for _ in 0..ROUNDS {
        for case in &mut cases {
            measure(case, round);
        }
    }

    let baseline = cases[0].rates.clone();
    println!("{ROUNDS} rounds of {} ms per case, single thread; median round:", round.as_millis());
    println!("{:<48} {:>14} {:>12}", "case", "ops/s/core", "vs raw");
    for case in &mut cases {
        let mut ratios: Vec<f64> = case.rates.iter().zip(&baseline).map(|(r, b)| r / b).collect();
        let ratio = median(&mut ratios);
        let rate = median(&mut case.rates);
        println!("{:<48} {:>14.0} {:>11.1}%", case.name, rate, ratio * 100.0);
    }
}
