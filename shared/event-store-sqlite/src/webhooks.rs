//! The webhook port on the embedded store: two tables beside the events,
//! each row its record's JSON with the columns the reads filter on.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use event_store::StoreError;
use event_store::webhooks::{
    DELIVERY_PAGE_MAX, Delivery, DeliveryPage, DeliveryStatus, Endpoint, WebhookStore,
    webhook_conflict,
};
use ledger_domain::TenantId;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{SqliteEventStore, unavailable, v_to_sql};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    tenant      TEXT    NOT NULL,
    endpoint_id TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    PRIMARY KEY (tenant, endpoint_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    tenant      TEXT    NOT NULL,
    endpoint_id TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    -- Microseconds since the epoch; set only while pending.
    due_at      INTEGER,
    version     INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    PRIMARY KEY (tenant, endpoint_id, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (due_at) WHERE due_at IS NOT NULL;
"#;

/// An endpoint's stored version, by tenant and endpoint id.
const ENDPOINT_VERSION: &str =
    "SELECT version FROM webhook_endpoints WHERE tenant = ?1 AND endpoint_id = ?2";

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::InvalidInput {
        field: "webhook record",
        reason: e.to_string(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Unavailable(format!("{what}: {e}")))
}

fn due_at(delivery: &Delivery) -> Option<i64> {
    match delivery.status {
        DeliveryStatus::Pending => delivery.next_attempt_at.map(|t| t.timestamp_micros()),
        DeliveryStatus::Delivered | DeliveryStatus::Parked => None,
    }
}

fn stored_version(
    conn: &Connection,
    sql: &str,
    keys: &[&dyn rusqlite::ToSql],
) -> Result<u64, StoreError> {
    let version: Option<i64> = conn
        .query_row(sql, keys, |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    Ok(version.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
}

/// The record a conditional write names, and the version the writer read.
struct Expected<'a> {
    /// `webhook-endpoint` or `webhook-delivery`.
    what: &'a str,
    id: &'a str,
    version: u64,
}

/// A conditional write that changed no row lost to another writer (or
/// found the record already there): the conflict names the version the
/// writer read and the stored one, which `version_sql` reads by `keys`.
fn written_or_conflict(
    conn: &Connection,
    changed: usize,
    expected: Expected<'_>,
    version_sql: &str,
    keys: &[&dyn rusqlite::ToSql],
) -> Result<(), StoreError> {
    if changed > 0 {
        return Ok(());
    }
    let actual = stored_version(conn, version_sql, keys)?;
    Err(webhook_conflict(
        expected.what,
        expected.id,
        expected.version,
        actual,
    ))
}

#[async_trait]
impl WebhookStore for SqliteEventStore {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let body = json(endpoint)?;
        let (tenant, id) = (endpoint.tenant_id.to_string(), endpoint.endpoint_id.clone());
        self.with_conn(move |conn| {
            let inserted = conn
                .execute(
                    "INSERT INTO webhook_endpoints (tenant, endpoint_id, version, body)
                     VALUES (?1, ?2, 1, ?3) ON CONFLICT DO NOTHING",
                    params![tenant, id, body],
                )
                .map_err(unavailable)?;
            let expected = Expected {
                what: "webhook-endpoint",
                id: &id,
                version: 0,
            };
            written_or_conflict(conn, inserted, expected, ENDPOINT_VERSION, &[&tenant, &id])
        })
        .await
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let body = json(endpoint)?;
        let (tenant, id) = (endpoint.tenant_id.to_string(), endpoint.endpoint_id.clone());
        let version = endpoint.version;
        self.with_conn(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE webhook_endpoints SET version = ?3, body = ?4
                     WHERE tenant = ?1 AND endpoint_id = ?2 AND version = ?5",
                    params![
                        tenant,
                        id,
                        v_to_sql(version),
                        body,
                        v_to_sql(version.saturating_sub(1))
                    ],
                )
                .map_err(unavailable)?;
            let expected = Expected {
                what: "webhook-endpoint",
                id: &id,
                version: version.saturating_sub(1),
            };
            written_or_conflict(conn, changed, expected, ENDPOINT_VERSION, &[&tenant, &id])
        })
        .await
    }

    async fn endpoint(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        let (tenant, id) = (tenant_id.to_string(), endpoint_id.to_owned());
        self.with_conn(move |conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM webhook_endpoints WHERE tenant = ?1 AND endpoint_id = ?2",
                    params![tenant, id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            body.map(|b| parse("webhook endpoint", &b)).transpose()
        })
        .await
    }

    async fn endpoints(&self, tenant_id: &TenantId) -> Result<Vec<Endpoint>, StoreError> {
        let tenant = tenant_id.to_string();
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT body FROM webhook_endpoints WHERE tenant = ?1 ORDER BY endpoint_id",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![tenant], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|r| parse("webhook endpoint", &r.map_err(unavailable)?))
                .collect()
        })
        .await
    }

    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<usize, StoreError> {
        let rows = deliveries
            .iter()
            .map(|d| {
                Ok((
                    d.tenant_id.to_string(),
                    d.endpoint_id.clone(),
                    d.event_id.clone(),
                    d.status.as_str(),
                    due_at(d),
                    v_to_sql(d.version),
                    json(d)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            let mut new = 0;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO webhook_deliveries
                         (tenant, endpoint_id, event_id, status, due_at, version, body)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                    )
                    .map_err(unavailable)?;
                for (tenant, endpoint, event, status, due, version, body) in &rows {
                    new += insert
                        .execute(params![tenant, endpoint, event, status, due, version, body])
                        .map_err(unavailable)?;
                }
            }
            tx.commit().map_err(unavailable)?;
            Ok(new)
        })
        .await
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let (now, limit) = (now.timestamp_micros(), limit.min(DELIVERY_PAGE_MAX));
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT body FROM webhook_deliveries
                     WHERE due_at IS NOT NULL AND due_at <= ?1
                     ORDER BY due_at, tenant, endpoint_id, event_id",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![now], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.take(limit)
                .map(|r| parse("webhook delivery", &r.map_err(unavailable)?))
                .collect()
        })
        .await
    }

    async fn save_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let body = json(delivery)?;
        let (tenant, endpoint, event) = (
            delivery.tenant_id.to_string(),
            delivery.endpoint_id.clone(),
            delivery.event_id.clone(),
        );
        let (status, due, version) = (delivery.status.as_str(), due_at(delivery), delivery.version);
        self.with_conn(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE webhook_deliveries SET status = ?4, due_at = ?5, version = ?6, body = ?7
                     WHERE tenant = ?1 AND endpoint_id = ?2 AND event_id = ?3 AND version = ?8",
                    params![
                        tenant,
                        endpoint,
                        event,
                        status,
                        due,
                        v_to_sql(version),
                        body,
                        v_to_sql(version.saturating_sub(1))
                    ],
                )
                .map_err(unavailable)?;
            let id = format!("{endpoint}/{event}");
            let expected = Expected {
                what: "webhook-delivery",
                id: &id,
                version: version.saturating_sub(1),
            };
            written_or_conflict(
                conn,
                changed,
                expected,
                "SELECT version FROM webhook_deliveries
                 WHERE tenant = ?1 AND endpoint_id = ?2 AND event_id = ?3",
                &[&tenant, &endpoint, &event],
            )
        })
        .await
    }

    async fn delivery(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
        event_id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        let keys = (
            tenant_id.to_string(),
            endpoint_id.to_owned(),
            event_id.to_owned(),
        );
        self.with_conn(move |conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM webhook_deliveries
                     WHERE tenant = ?1 AND endpoint_id = ?2 AND event_id = ?3",
                    params![keys.0, keys.1, keys.2],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            body.map(|b| parse("webhook delivery", &b)).transpose()
        })
        .await
    }

    async fn deliveries(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
        status: Option<DeliveryStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        let limit = limit.clamp(1, DELIVERY_PAGE_MAX);
        let (tenant, endpoint) = (tenant_id.to_string(), endpoint_id.to_owned());
        let status = status.map(DeliveryStatus::as_str);
        let after = after.map(str::to_owned);
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT body FROM webhook_deliveries
                     WHERE tenant = ?1 AND endpoint_id = ?2
                       AND (?3 IS NULL OR status = ?3)
                       AND (?4 IS NULL OR event_id < ?4)
                     ORDER BY event_id DESC",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![tenant, endpoint, status, after], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(unavailable)?;
            let mut deliveries: Vec<Delivery> = rows
                .take(limit + 1)
                .map(|r| parse("webhook delivery", &r.map_err(unavailable)?))
                .collect::<Result<_, StoreError>>()?;
            let next = if deliveries.len() > limit {
                deliveries.truncate(limit);
                deliveries.last().map(|d| d.event_id.clone())
            } else {
                None
            };
            Ok(DeliveryPage { deliveries, next })
        })
        .await
    }
}
