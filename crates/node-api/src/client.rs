//! An async client of the coordination node (feature `client`), used by the prover node and the
//! proposer: typed requests and answers, and errors that tell a refused quote (with its
//! [`RefusalCode`]) from a node that cannot answer now and from no answer at all.

use std::time::Duration;

use epoch_quote::SignedEpochProofQuote;
use serde::Deserialize;

use crate::{RefusalCode, SubmitResponse};

/// Why a request to the node did not give the answer asked for.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node refused the quote: it would fail on L1, is malformed, or cannot be kept. Sending
    /// the same quote again gets the same answer until L1 changes.
    #[error("refused ({code}): {message}")]
    Refused {
        /// The rule it broke.
        code: RefusalCode,
        /// The node's explanation.
        message: String,
    },
    /// The node refused the request for another reason (a bad parameter, a rate limit).
    #[error("the node answered {status} ({code}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The error's code.
        code: String,
        /// The node's explanation.
        message: String,
    },
    /// The node answered but cannot serve the request now (its database or L1 is unavailable,
    /// or it failed): try again later.
    #[error("the node is unavailable ({status}): {message}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The error's code, when the answer had one.
        code: Option<String>,
        /// The node's explanation, or the start of its answer.
        message: String,
    },
    /// No answer (connection refused, timeout), or one that could not be read.
    #[error("cannot reach the node: {0}")]
    Transport(#[from] reqwest::Error),
    /// The node's base URL and the path do not make a URL.
    #[error("bad node URL: {0}")]
    Url(String),
}

impl ClientError {
    /// Whether trying again soon may succeed (the node or the network, not the request, failed).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Transport(_) => true,
            Self::Rejected { status, .. } => *status == 429,
            Self::Refused { .. } | Self::Url(_) => false,
        }
    }
}

/// The error envelope of every error answer.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// What storing a submitted quote came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The quote's id and status.
    pub answer: SubmitResponse,
    /// `true` when this request stored it (`201`), `false` when it was already stored (`200`).
    pub created: bool,
}

/// A client of one coordination node.
#[derive(Clone, Debug)]
pub struct NodeClient {
    base: reqwest::Url,
    http: reqwest::Client,
}

impl NodeClient {
    /// A client of the node at `base` (e.g. `http://127.0.0.1:8000/`), with a 10 s timeout per
    /// request.
    pub fn new(base: reqwest::Url) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(Self::with_http(base, http))
    }

    /// A client of the node at `base` through `http`.
    pub fn with_http(mut base: reqwest::Url, http: reqwest::Client) -> Self {
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Self { base, http }
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, ClientError> {
        self.base.join(path).map_err(|e| ClientError::Url(e.to_string()))
    }

    /// `POST /epoch-proof-quotes`: submits a signed quote.
    pub async fn submit_quote(&self, quote: &SignedEpochProofQuote) -> Result<Submitted, ClientError> {
        let response = self.http.post(self.url("epoch-proof-quotes")?).json(quote).send().await?;
        let created = response.status() == reqwest::StatusCode::CREATED;
        let answer = success(response).await?.json::<SubmitResponse>().await?;
        Ok(Submitted { answer, created })
    }

    /// `GET /epoch-proof-quotes?epoch=…`: the first page (at most `limit`, 1 to 500) of the
    /// claimable (`pending`) quotes of `epoch`, best first. Empty is "no quote yet", never a
    /// failure of the node.
    pub async fn claimable_quotes(&self, epoch: u64, limit: u32) -> Result<Vec<SignedEpochProofQuote>, ClientError> {
        #[derive(Deserialize)]
        struct Page {
            quotes: Vec<SignedEpochProofQuote>,
        }
        let url = self.url(&format!("epoch-proof-quotes?epoch={epoch}&limit={limit}"))?;
        let response = self.http.get(url).send().await?;
        Ok(success(response).await?.json::<Page>().await?.quotes)
    }
}

/// The response if it is a success, else the error it carries.
async fn success(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await?;
    let body: Option<ErrorBody> = serde_json::from_str(&text).ok();
    let status = status.as_u16();
    if status >= 500 {
        let message = body.as_ref().map_or_else(|| text.chars().take(200).collect(), |b| b.message.clone());
        return Err(ClientError::Unavailable { status, code: body.map(|b| b.code), message });
    }
    let Some(body) = body else {
        return Err(ClientError::Rejected { status, code: String::new(), message: text.chars().take(200).collect() });
    };
    match body.code.parse::<RefusalCode>() {
        Ok(code) if code.http_status() == status => Err(ClientError::Refused { code, message: body.message }),
        _ => Err(ClientError::Rejected { status, code: body.code, message: body.message }),
    }
}
