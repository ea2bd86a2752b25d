//! The transport of Stripe requests: async-stripe builds each request (its
//! path, form or query, idempotency key and API version), and this client
//! sends it over reqwest (`crate::http_client`, as PayPal's adapter).
//!
//! async-stripe's own client is not used: it reads every error answer into
//! its full `ApiErrors`, whose object graph (payment intent, payment method,
//! setup intent, source) was most of the Stripe code in the dispatch
//! function's binary, and it brings a second HTTP and TLS stack. This client
//! reads only what the adapter decides on: the status, and the error's
//! `type` and `message`.
//!
//! One attempt per call, never a retry here: an unknown outcome goes back
//! to the queue, and the next attempt asks Stripe first (see `payout`).

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use stripe_client_core::{
    CustomizedStripeRequest, SharedConfigBuilder, StripeClient, StripeClientErr, StripeMethod,
};

/// Stripe's API host, when no other base is given.
const API_BASE: &str = "https://api.stripe.com";

/// Why a Stripe call did not answer with a success.
#[derive(Debug, thiserror::Error)]
pub enum StripeFailure {
    /// Stripe answered with an error status and its `error` object.
    #[error("stripe {status} ({kind}): {}", message.as_deref().unwrap_or("no message"))]
    Api {
        status: u16,
        kind: String,
        message: Option<String>,
    },
    /// An error status whose body is not Stripe's error object (a proxy's
    /// page, say): not Stripe's word on the request, so nothing is known.
    #[error("stripe {status}: an answer that is not Stripe's error object")]
    Unreadable { status: u16 },
    /// No answer: connection trouble, a timeout, a body cut short.
    #[error("stripe: {0}")]
    Transport(String),
    /// A success whose body was not what was asked for.
    #[error("stripe answer: {0}")]
    Decode(String),
}

impl StripeClientErr for StripeFailure {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        StripeFailure::Decode(msg.to_string())
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: Option<String>,
}

/// A Stripe client for one secret key.
pub struct StripeHttp {
    http: reqwest::Client,
    base: String,
    authorization: HeaderValue,
    version: HeaderValue,
}

impl std::fmt::Debug for StripeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret key.
        f.debug_struct("StripeHttp")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl StripeHttp {
    /// `base_url`: `None` for api.stripe.com. The key must be usable as a
    /// header value; it is marked sensitive, so it is never printed.
    pub fn new(secret_key: &str, base_url: Option<&str>) -> Result<Self, String> {
        let config = SharedConfigBuilder::new(secret_key);
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", config.secret))
            .map_err(|_| "the secret key is not a valid header value".to_owned())?;
        authorization.set_sensitive(true);
        let version = HeaderValue::try_from(config.stripe_version.as_str())
            .map_err(|_| "the Stripe API version is not a valid header value".to_owned())?;
        Ok(StripeHttp {
            http: crate::http_client()?,
            base: base_url
                .unwrap_or(API_BASE)
                .trim_end_matches('/')
                .to_owned(),
            authorization,
            version,
        })
    }
}

impl StripeClient for StripeHttp {
    type Err = StripeFailure;

    async fn execute(&self, request: CustomizedStripeRequest) -> Result<Bytes, StripeFailure> {
        let (request, config) = request.into_pieces();
        let mut url = format!("{}/v1{}", self.base, request.path);
        if let Some(query) = &request.query {
            url.push('?');
            url.push_str(query);
        }
        let method = match request.method {
            StripeMethod::Get => reqwest::Method::GET,
            StripeMethod::Post => reqwest::Method::POST,
            StripeMethod::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header("Stripe-Version", self.version.clone());
        if let Some(key) = config.request_strategy.and_then(|s| s.get_key()) {
            builder = builder.header("Idempotency-Key", key.as_str());
        }
        if let Some(account) = &config.account_id {
            builder = builder.header("Stripe-Account", account.as_str());
        }
        if let Some(timeout) = config.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(body) = request.body {
            builder = builder
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| StripeFailure::Transport(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| StripeFailure::Transport(e.to_string()))?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(ErrorBody { error }) => StripeFailure::Api {
                status: status.as_u16(),
                kind: error.kind,
                message: error.message,
            },
            Err(_) => StripeFailure::Unreadable {
                status: status.as_u16(),
            },
        })
    }
}
