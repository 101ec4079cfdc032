//! Per-client-address rate limiting (token buckets), answered `429 rate_limited` with
//! `Retry-After`.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::ApiError;

/// Above this many tracked addresses, idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;

/// A token bucket per client address: `per_second` requests sustained, bursts of `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter; `per_second == 0` lets everything through.
    pub fn new(per_second: u32, burst: u32) -> Arc<Self> {
        Arc::new(Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a token for `client`, or says how many seconds until one is available.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            let full_after = self.burst / self.per_second;
            buckets.retain(|_, (_, last)| now.duration_since(*last).as_secs_f64() < full_after);
        }
        let (tokens, last) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

/// Middleware limiting the requests it wraps by client address (use with
/// `middleware::from_fn_with_state` on the routes to limit; the server must be started with
/// `into_make_service_with_connect_info::<SocketAddr>()` for addresses to be known). The client is
/// [`crate::client::ClientIp`] when [`crate::client::resolve`] ran (behind a trusted proxy, the
/// address it forwarded for), else the connection's peer.
pub async fn limit(State(limiter): State<Arc<RateLimiter>>, request: Request, next: Next) -> Response {
    let extensions = request.extensions();
    let client = extensions
        .get::<crate::client::ClientIp>()
        .map(|c| c.0)
        .or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
    if let Some(client) = client
        && let Err(retry_after) = limiter.check(client)
    {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests from {client}; retry in {retry_after} s"),
        )
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let limiter = RateLimiter::new(1, 2);
        let client = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(limiter.check(client), Ok(()));
        assert_eq!(limiter.check(client), Ok(()));
        assert_eq!(limiter.check(client), Err(1));
        assert_eq!(limiter.check(IpAddr::from([127, 0, 0, 2])), Ok(()), "each address has its own bucket");
        assert_eq!(RateLimiter::new(0, 0).check(client), Ok(()), "0 disables");
    }
}
