//! A local server that behaves as PayPal documents, for the PayPal
//! adapter's tests. What it implements, and where PayPal says so:
//!
//! - OAuth 2.0 client credentials: `POST /v1/oauth2/token` with HTTP Basic
//!   `client_id:secret` and `grant_type=client_credentials` answers an
//!   `access_token` and `expires_in`; every other call needs
//!   `Authorization: Bearer <access_token>`, else `401`
//!   (REST APIs, "Authentication" / "Get access token").
//! - Create batch payout, `POST /v1/payments/payouts` (Payouts v1,
//!   `payouts.post`, and its `create_payout_request` schema):
//!   - a `PayPal-Request-Id` seen before is answered with the response of
//!     the request that first carried it ("Idempotency": "PayPal returns the
//!     latest status of the previous request"; Payouts: "The server stores
//!     keys for 30 days"). `without_request_id_replay` turns this off, as the
//!     sandbox has been seen to refuse the used `sender_batch_id` instead;
//!   - a used `sender_batch_id` is refused: "If you specify a
//!     `sender_batch_id` that was used in the last 30 days, the API rejects
//!     the request with an error message that shows the duplicate
//!     `sender_batch_id` and includes a HATEOAS link to the original payout"
//!     (`sender_batch_header` definition). The error is PayPal's `error`
//!     object as the sandbox sends it: `400 USER_BUSINESS_ERROR`, detail
//!     `field: SENDER_BATCH_ID`, `issue: "Batch with given sender_batch_id
//!     already exists"`, `link: [{href: .../v1/payments/payouts/{id}}]`;
//!   - `items` must hold 1 to 15000 items (`minItems: 1`), else
//!     `400 VALIDATION_ERROR`. Which of these two checks PayPal makes first
//!     is not documented: `items_checked_first` makes the other order;
//!   - otherwise `201` with `batch_header` (`payout_batch_id`,
//!     `batch_status: PENDING`, `sender_batch_header`) and `links`.
//! - Show payout batch details, `GET /v1/payments/payouts/{payout_batch_id}`
//!   (`payouts.get`, `payout_batch` schema): `batch_header` and `items`, each
//!   with `payout_item_id`, `transaction_status` (SUCCESS, FAILED, PENDING,
//!   UNCLAIMED, RETURNED, ONHOLD, BLOCKED, REFUNDED, REVERSED), `payout_item`
//!   (with `sender_item_id`) and `errors`; `404 RESOURCE_NOT_FOUND` for an
//!   unknown id.
//! - Verify webhook signature, `POST /v1/notifications/verify-webhook-signature`
//!   (Webhooks v1, `verify_webhook_signature` schema): `auth_algo`,
//!   `cert_url`, `transmission_id`, `transmission_sig`, `transmission_time`,
//!   `webhook_id` and `webhook_event` (an object) are required, else
//!   `400 VALIDATION_ERROR`. PayPal signs
//!   `transmission_id|transmission_time|webhook_id|crc32(body)` over the
//!   exact bytes it sent ("Integrate webhooks"), so `verification_status` is
//!   `SUCCESS` only when the `webhook_event` member's raw text is byte for
//!   byte the body this server transmitted under that `transmission_id`,
//!   with the same headers and webhook id; `FAILURE` otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use processors::webhooks::PaypalTransmission;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const CLIENT_ID: &str = "client-id";
pub const SECRET: &str = "client-secret";
pub const WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
const TOKEN: &str = "A21AAFEpH4PsADK7qSS7pSRsgzfENtu-Q1ysgEDVDESseMHBYXVJYE8ovjj68elIDy8nF26AwPhfXTIeWAZHSLIsQkSYz9ifg";
/// When this server transmits its webhooks: 2026-11-20T10:00:00Z.
pub const SENT_AT: i64 = 1_795_168_800;
pub const SENT_AT_TEXT: &str = "2026-11-20T10:00:00Z";

struct Item {
    payout_item_id: String,
    status: String,
    errors: Option<Value>,
    /// The item as the sender gave it.
    sent: Value,
}

struct Batch {
    id: String,
    sender_batch_header: Value,
    items: Vec<Item>,
}

struct Sent {
    body: Vec<u8>,
    transmission: PaypalTransmission,
}

#[derive(Default)]
struct State {
    batches: Vec<Batch>,
    /// PayPal-Request-Id -> (status, answer).
    request_ids: HashMap<String, (u16, Value)>,
    no_request_id_replay: bool,
    items_checked_first: bool,
    transmissions: HashMap<String, Sent>,
    next: u32,
}

/// The fake PayPal: its server and what it holds.
pub struct FakePaypal {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn error(status: u16, name: &str, message: &str, details: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "name": name,
        "message": message,
        "debug_id": "f2a5cd9ac9a1b",
        "information_link": "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors",
        "details": details,
        "links": []
    }))
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

fn authorized(request: &Request) -> bool {
    header(request, "authorization") == Some(&format!("Bearer {TOKEN}"))
}

fn unauthorized() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(json!({
        "error": "invalid_token",
        "error_description": "Token signature verification failed"
    }))
}

struct Token;

impl Respond for Token {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        // base64("client-id:client-secret")
        let basic =
            header(request, "authorization") == Some("Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ=");
        if !basic || request.body != b"grant_type=client_credentials" {
            return ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client",
                "error_description": "Client Authentication failed"
            }));
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "scope": "https://uri.paypal.com/services/payouts",
            "access_token": TOKEN,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": 31668,
            "nonce": "2020-04-03T15:35:36ZaYZlGvEkV4yVSz8g6bAKFoGSEzuy3CQcz3ljhibkOHg"
        }))
    }
}

struct CreatePayout(Arc<Mutex<State>>);

impl CreatePayout {
    fn answer(state: &mut State, body: &Value) -> (u16, Value) {
        let header = body
            .get("sender_batch_header")
            .cloned()
            .unwrap_or(json!({}));
        let sender_batch_id = header.get("sender_batch_id").and_then(Value::as_str);
        let items = body.get("items").and_then(Value::as_array);
        let items_invalid = !items.is_some_and(|i| (1..=15000).contains(&i.len()));
        let invalid = || {
            (
                400,
                json!({
                    "name": "VALIDATION_ERROR",
                    "message": "Invalid request - see details",
                    "debug_id": "b8a1b9c8e0f2",
                    "information_link": "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors",
                    "details": [{"field": "items", "location": "body",
                                 "issue": "Should have at least 1 item(s)"}],
                    "links": []
                }),
            )
        };
        if state.items_checked_first && items_invalid {
            return invalid();
        }
        if let Some(id) = sender_batch_id {
            if let Some(original) = state.batches.iter().find(|b| {
                b.sender_batch_header
                    .get("sender_batch_id")
                    .and_then(Value::as_str)
                    == Some(id)
            }) {
                return (
                    400,
                    json!({
                        "name": "USER_BUSINESS_ERROR",
                        "message": "User business error.",
                        "debug_id": "f701090abdcb2",
                        "information_link": "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors",
                        "details": [{
                            "field": "SENDER_BATCH_ID",
                            "location": "body",
                            "issue": "Batch with given sender_batch_id already exists",
                            "link": [{
                                "href": format!("https://api-m.sandbox.paypal.com/v1/payments/payouts/{}", original.id),
                                "rel": "self", "method": "GET", "encType": "application/json"
                            }]
                        }],
                        "links": []
                    }),
                );
            }
        }
        if items_invalid {
            return invalid();
        }
        state.next += 1;
        let id = format!("5UXD2E8A7E{:03}", state.next);
        let items = items
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(n, sent)| Item {
                payout_item_id: format!("8AELMXH8U{:03}{n}", state.next),
                status: "PENDING".to_owned(),
                errors: None,
                sent: sent.clone(),
            })
            .collect();
        state.batches.push(Batch {
            id: id.clone(),
            sender_batch_header: header.clone(),
            items,
        });
        (
            201,
            json!({
                "batch_header": {
                    "sender_batch_header": header,
                    "payout_batch_id": id,
                    "batch_status": "PENDING"
                },
                "links": [{"href": format!("https://api-m.sandbox.paypal.com/v1/payments/payouts/{id}"),
                           "rel": "self", "method": "GET", "encType": "application/json"}]
            }),
        )
    }
}

impl Respond for CreatePayout {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !authorized(request) {
            return unauthorized();
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return error(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                json!([]),
            );
        };
        let mut state = lock(&self.0);
        let request_id = header(request, "paypal-request-id").map(str::to_owned);
        if let Some(id) = &request_id {
            if !state.no_request_id_replay {
                if let Some((status, answer)) = state.request_ids.get(id) {
                    return ResponseTemplate::new(*status).set_body_json(answer.clone());
                }
            }
        }
        let (status, answer) = Self::answer(&mut state, &body);
        if let Some(id) = request_id {
            state.request_ids.insert(id, (status, answer.clone()));
        }
        ResponseTemplate::new(status).set_body_json(answer)
    }
}

struct ShowBatch(Arc<Mutex<State>>);

impl Respond for ShowBatch {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !authorized(request) {
            return unauthorized();
        }
        let id = request
            .url
            .path()
            .trim_start_matches("/v1/payments/payouts/");
        let state = lock(&self.0);
        let Some(batch) = state.batches.iter().find(|b| b.id == id) else {
            return error(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                json!([]),
            );
        };
        let done = batch.items.iter().all(|i| i.status != "PENDING");
        let items: Vec<Value> = batch
            .items
            .iter()
            .map(|item| {
                let mut v = json!({
                    "payout_item_id": item.payout_item_id,
                    "transaction_id": "0C413693MN970190K",
                    "activity_id": "0E158638XS0329106",
                    "transaction_status": item.status,
                    "payout_item_fee": {"currency": "EUR", "value": "0.25"},
                    "payout_batch_id": batch.id,
                    "payout_item": item.sent,
                    "time_processed": "2026-11-20T09:59:40Z",
                    "links": [{"href": format!("https://api-m.sandbox.paypal.com/v1/payments/payouts-item/{}", item.payout_item_id),
                               "rel": "item", "method": "GET", "encType": "application/json"}]
                });
                if let Some(errors) = &item.errors {
                    v["errors"] = errors.clone();
                }
                v
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "batch_header": {
                "payout_batch_id": batch.id,
                "batch_status": if done { "SUCCESS" } else { "PROCESSING" },
                "time_created": "2026-11-20T09:58:00Z",
                "sender_batch_header": batch.sender_batch_header,
                "amount": {"currency": "EUR", "value": "80.50"},
                "fees": {"currency": "EUR", "value": "0.25"}
            },
            "items": items,
            "links": [{"href": format!("https://api-m.sandbox.paypal.com/v1/payments/payouts/{}?page_size=1000&page=1", batch.id),
                       "rel": "self", "method": "GET", "encType": "application/json"}]
        }))
    }
}

/// The verification request, with `webhook_event` kept as raw text.
#[derive(serde::Deserialize)]
struct VerifyRequest<'a> {
    auth_algo: String,
    cert_url: String,
    transmission_id: String,
    transmission_sig: String,
    transmission_time: String,
    webhook_id: String,
    #[serde(borrow)]
    webhook_event: &'a serde_json::value::RawValue,
}

struct Verify(Arc<Mutex<State>>);

impl Respond for Verify {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !authorized(request) {
            return unauthorized();
        }
        let Ok(asked) = serde_json::from_slice::<VerifyRequest<'_>>(&request.body) else {
            return error(
                400,
                "VALIDATION_ERROR",
                "Invalid data provided",
                json!([{"issue": "required fields missing"}]),
            );
        };
        if !asked.webhook_event.get().starts_with('{') {
            return error(
                400,
                "VALIDATION_ERROR",
                "Invalid data provided",
                json!([{"field": "webhook_event", "issue": "must be an object"}]),
            );
        }
        let state = lock(&self.0);
        let genuine = state
            .transmissions
            .get(&asked.transmission_id)
            .is_some_and(|sent| {
                let t = &sent.transmission;
                // Byte for byte: what PayPal signed is the CRC32 of these bytes.
                asked.webhook_event.get().as_bytes() == sent.body.as_slice()
                    && asked.transmission_sig == t.transmission_sig
                    && asked.transmission_time == t.transmission_time
                    && asked.cert_url == t.cert_url
                    && asked.auth_algo == t.auth_algo
                    && asked.webhook_id == WEBHOOK_ID
            });
        ResponseTemplate::new(200).set_body_json(json!({
            "verification_status": if genuine { "SUCCESS" } else { "FAILURE" }
        }))
    }
}

impl FakePaypal {
    pub async fn start() -> FakePaypal {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(method("POST"))
            .and(path("/v1/oauth2/token"))
            .respond_with(Token)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/payments/payouts"))
            .respond_with(CreatePayout(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/v1/payments/payouts/[^/]+$"))
            .respond_with(ShowBatch(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/notifications/verify-webhook-signature"))
            .respond_with(Verify(state.clone()))
            .mount(&server)
            .await;
        FakePaypal { server, state }
    }

    /// A repeated `PayPal-Request-Id` is refused like any use of its
    /// `sender_batch_id`, as the sandbox was seen to do.
    pub fn without_request_id_replay(self) -> Self {
        lock(&self.state).no_request_id_replay = true;
        self
    }

    /// The items are validated before the `sender_batch_id` is looked up.
    pub fn items_checked_first(self) -> Self {
        lock(&self.state).items_checked_first = true;
        self
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Sets the status (and errors) of the item PayPal holds under
    /// `sender_item_id`.
    pub fn set_item_status(&self, sender_item_id: &str, status: &str, errors: Option<Value>) {
        let mut state = lock(&self.state);
        let item = state
            .batches
            .iter_mut()
            .flat_map(|b| b.items.iter_mut())
            .find(|i| i.sent.get("sender_item_id").and_then(Value::as_str) == Some(sender_item_id))
            .expect("no such item");
        item.status = status.to_owned();
        item.errors = errors;
    }

    pub fn batch_count(&self) -> usize {
        lock(&self.state).batches.len()
    }

    /// Sends `body` as PayPal would: the transmission headers it signs with.
    pub fn transmit(&self, body: &[u8]) -> PaypalTransmission {
        let mut state = lock(&self.state);
        state.next += 1;
        let n = state.next;
        let transmission = PaypalTransmission {
            transmission_id: format!("69cd13f0-d67a-11e5-baa3-778b53f4a{n:03}"),
            transmission_time: SENT_AT_TEXT.to_owned(),
            transmission_sig: format!("sig-{n}-{:08x}", crc32fast::hash(body)),
            cert_url:
                "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
                    .to_owned(),
            auth_algo: "SHA256withRSA".to_owned(),
        };
        state.transmissions.insert(
            transmission.transmission_id.clone(),
            Sent {
                body: body.to_vec(),
                transmission: transmission.clone(),
            },
        );
        transmission
    }

    /// The requests received, by path.
    pub async fn requests_to(&self, prefix: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().starts_with(prefix))
            .count()
    }

    /// The create requests received: their `PayPal-Request-Id` and body.
    pub async fn creates(&self) -> Vec<(Option<String>, Value)> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/v1/payments/payouts")
            .map(|r| {
                (
                    header(r, "paypal-request-id").map(str::to_owned),
                    serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                )
            })
            .collect()
    }
}
