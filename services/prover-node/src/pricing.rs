//! QuoteProvider: the fee and bond for an epoch, from fixed settings (`SimpleQuoteProvider`) or
//! from the operator's pricing service at `QUOTE_PROVIDER_URL`.

use std::time::Duration;

use alloy::primitives::U256;
use epoch_quote::{MAX_BASIS_POINT_FEE, num::JsonScalar};
use serde::Deserialize;

/// What the quote provider is told about an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochToPrice {
    /// The epoch.
    pub epoch_number: u64,
    /// First L2 block.
    pub from_block: u64,
    /// Last L2 block (inclusive).
    pub end_block: u64,
    /// Transactions in the epoch.
    pub tx_count: u64,
    /// Sum of the epoch's fees.
    pub total_fees: U256,
    /// The last slot the quote needs to be claimable at (the end of the epoch's claim window);
    /// sent as `validUntilSlot`, which the pricing service may shorten but never extends.
    pub valid_until_slot: Option<u64>,
}

/// A price for an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pricing {
    /// Basis points of the fees, 1..=10000.
    pub basis_point_fee: u32,
    /// The bond, at least 1.
    pub bond_amount: U256,
    /// Last slot at which the quote may be claimed, when the provider says.
    pub valid_until_slot: Option<U256>,
}

/// Where prices come from.
#[derive(Clone, Debug)]
pub enum QuoteProvider {
    /// The same fee and bond for every epoch.
    Simple {
        /// `QUOTE_PROVIDER_BASIS_POINT_FEE`.
        basis_point_fee: u32,
        /// `QUOTE_PROVIDER_BOND_AMOUNT`.
        bond_amount: U256,
    },
    /// The pricing service at `url`.
    Http {
        /// `QUOTE_PROVIDER_URL`.
        url: reqwest::Url,
        /// The HTTP client (with its timeout).
        client: reqwest::Client,
        /// Attempts after the first when the service fails (not when it declines).
        retries: u32,
    },
}

/// The pricing service's answer, as sent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpAnswer {
    basis_point_fee: Option<JsonScalar>,
    bond_amount: Option<JsonScalar>,
    valid_until_slot: Option<JsonScalar>,
}

impl QuoteProvider {
    /// The HTTP provider for `url`, each request bounded by `timeout`.
    pub fn http(url: reqwest::Url, timeout: Duration, retries: u32) -> Result<Self, reqwest::Error> {
        Ok(Self::Http { url, client: reqwest::Client::builder().timeout(timeout).build()?, retries })
    }

    /// The price for `epoch`, or `None` (with the reason logged) when the provider gives none:
    /// it declined, it answered without a fee or a bond, or it could not be reached.
    pub async fn get_quote(&self, epoch: &EpochToPrice) -> Option<Pricing> {
        match self {
            Self::Simple { basis_point_fee, bond_amount } => {
                Some(Pricing { basis_point_fee: *basis_point_fee, bond_amount: *bond_amount, valid_until_slot: None })
            }
            Self::Http { url, client, retries } => {
                let mut body = serde_json::json!({
                    "epochNumber": epoch.epoch_number,
                    "fromBlock": epoch.from_block,
                    "endBlock": epoch.end_block,
                    "txCount": epoch.tx_count,
                    "totalFees": epoch.total_fees.to_string(),
                });
                if let Some(slot) = epoch.valid_until_slot {
                    body["validUntilSlot"] = slot.into();
                }
                let mut attempt = 0;
                loop {
                    match client.post(url.clone()).json(&body).send().await {
                        Ok(response) if response.status().is_success() => {
                            let text = response.text().await.unwrap_or_default();
                            return parse_answer(epoch.epoch_number, &text);
                        }
                        Ok(response) if response.status().is_client_error() => {
                            let status = response.status();
                            let text = response.text().await.unwrap_or_default();
                            tracing::info!(epoch = epoch.epoch_number, %status, answer = %text, "quote provider declined; no quote");
                            return None;
                        }
                        outcome => {
                            let why = match outcome {
                                Ok(r) => format!("HTTP {}", r.status()),
                                Err(e) => e.to_string(),
                            };
                            if attempt >= *retries {
                                tracing::warn!(epoch = epoch.epoch_number, error = %why, attempts = attempt + 1, "quote provider failed; no quote");
                                return None;
                            }
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                        }
                    }
                }
            }
        }
    }
}

/// Reads the service's answer; anything short of a usable fee and bond is no quote.
fn parse_answer(epoch: u64, text: &str) -> Option<Pricing> {
    let refuse = |why: String| {
        tracing::warn!(epoch, answer = %text, reason = %why, "unusable answer from the quote provider; no quote");
        None
    };
    let answer: HttpAnswer = match serde_json::from_str(text) {
        Ok(answer) => answer,
        Err(e) => return refuse(format!("not JSON of the expected shape: {e}")),
    };
    let Some(fee) = answer.basis_point_fee else { return refuse("no basisPointFee".into()) };
    let Some(bond) = answer.bond_amount else { return refuse("no bondAmount".into()) };
    let basis_point_fee = match fee.to_u32() {
        Ok(fee) if (1..=MAX_BASIS_POINT_FEE).contains(&fee) => fee,
        Ok(fee) => return refuse(format!("basisPointFee {fee} is not between 1 and 10000")),
        Err(e) => return refuse(format!("basisPointFee: {e}")),
    };
    let bond_amount = match bond.to_u256() {
        Ok(bond) if !bond.is_zero() => bond,
        Ok(_) => return refuse("bondAmount is 0".into()),
        Err(e) => return refuse(format!("bondAmount: {e}")),
    };
    let valid_until_slot = match answer.valid_until_slot.map(|v| v.to_u256()).transpose() {
        Ok(slot) => slot,
        Err(e) => return refuse(format!("validUntilSlot: {e}")),
    };
    Some(Pricing { basis_point_fee, bond_amount, valid_until_slot })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_without_a_usable_fee_or_bond_give_no_quote() {
        let good = parse_answer(1, r#"{"basisPointFee":250,"bondAmount":"5000","validUntilSlot":"12"}"#);
        assert_eq!(
            good,
            Some(Pricing {
                basis_point_fee: 250,
                bond_amount: U256::from(5000),
                valid_until_slot: Some(U256::from(12))
            })
        );
        assert_eq!(
            parse_answer(1, r#"{"basisPointFee":250,"bondAmount":5000}"#).map(|p| p.valid_until_slot),
            Some(None)
        );
        for bad in [
            r#"{"bondAmount":"5000"}"#,
            r#"{"basisPointFee":250}"#,
            r#"{"basisPointFee":0,"bondAmount":"5000"}"#,
            r#"{"basisPointFee":10001,"bondAmount":"5000"}"#,
            r#"{"basisPointFee":250,"bondAmount":"0"}"#,
            r#"{"basisPointFee":250,"bondAmount":"-1"}"#,
            r#"{"basisPointFee":"x","bondAmount":"5"}"#,
            "not json",
        ] {
            assert_eq!(parse_answer(1, bad), None, "{bad}");
        }
    }
}
