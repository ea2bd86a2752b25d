//! Affiliate statements: for one affiliate, currency and period (a calendar
//! month in the tenant's time zone), the opening balance, every movement
//! with its reference, and the closing balance.
//!
//! A [`Statement`] can only be built by [`Statement::build`], which checks
//! two things and refuses to produce a statement otherwise:
//!
//! - opening + movements = closing, field by field;
//! - closing + the movements after the period = the ledger's balance row
//!   now. The journal lines and the balance rows are written separately by
//!   the projector, so this ties the statement to the ledger's balance.
//!
//! A line belongs to the period its `effective_at` falls in (when it
//! happened, not when it was recorded): a late event changes a closed
//! month's statement, which is then regenerated as a new version.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use event_store::{Fields, JournalLine};
use ledger_domain::money::currency_from_code;
use ledger_domain::projection::AffiliateField;
use ledger_domain::{AffiliateId, Currency, Money, TenantId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The fields of an affiliate's balance a statement shows, in order: the
/// domain's ([`AffiliateField::ALL`]).
pub const STATEMENT_FIELDS: [&str; 5] = AffiliateField::NAMES;

/// The statement file format written in the JSON's `format` member.
pub const STATEMENT_FORMAT: &str = "affiliate-statement/1";

/// Why a statement could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("period {0:?} is not a month written YYYY-MM")]
    BadPeriod(String),
    #[error("time zone {0:?} is not an IANA time zone name")]
    BadTimeZone(String),
    #[error("journal line {stream}@{version} has an unreadable effective_at {value:?}")]
    BadLine {
        stream: String,
        version: u64,
        value: String,
    },
    #[error("{currency:?} is not a currency: {reason}")]
    BadCurrency { currency: String, reason: String },
    #[error("statement amounts overflow in {field}")]
    Overflow { field: &'static str },
    #[error(
        "statement does not tie to the ledger in {field}: closing plus later movements is {statement} minor units, the ledger's balance is {ledger}"
    )]
    DoesNotTie {
        field: &'static str,
        statement: i64,
        ledger: i64,
    },
}

/// Each tenant's time zone for statement periods: `TENANT_TIME_ZONES`
/// (`{"acme": "Europe/Berlin"}`) over a default `STATEMENT_TIME_ZONE`
/// (UTC if unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZones {
    pub default: Tz,
    pub tenants: BTreeMap<String, Tz>,
}

impl Default for TimeZones {
    fn default() -> Self {
        TimeZones {
            default: Tz::UTC,
            tenants: BTreeMap::new(),
        }
    }
}

impl TimeZones {
    /// Reads the default zone and the per-tenant JSON map.
    pub fn parse(default: Option<&str>, tenants: Option<&str>) -> Result<Self, String> {
        let default = match default.map(str::trim).filter(|d| !d.is_empty()) {
            None => Tz::UTC,
            Some(name) => time_zone(name).map_err(|e| format!("STATEMENT_TIME_ZONE: {e}"))?,
        };
        let mut map = BTreeMap::new();
        if let Some(json) = tenants.map(str::trim).filter(|t| !t.is_empty()) {
            let wire: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
                format!("TENANT_TIME_ZONES must be a JSON object of tenant to zone: {e}")
            })?;
            for (tenant, zone) in wire {
                TenantId::new(tenant.as_str()).map_err(|e| format!("TENANT_TIME_ZONES: {e}"))?;
                let tz =
                    time_zone(&zone).map_err(|e| format!("TENANT_TIME_ZONES[{tenant}]: {e}"))?;
                map.insert(tenant, tz);
            }
        }
        Ok(TimeZones {
            default,
            tenants: map,
        })
    }

    /// From `STATEMENT_TIME_ZONE` and `TENANT_TIME_ZONES`.
    pub fn from_env() -> Result<Self, String> {
        TimeZones::parse(
            std::env::var("STATEMENT_TIME_ZONE").ok().as_deref(),
            std::env::var("TENANT_TIME_ZONES").ok().as_deref(),
        )
    }

    pub fn of(&self, tenant_id: &TenantId) -> Tz {
        self.tenants
            .get(tenant_id.as_str())
            .copied()
            .unwrap_or(self.default)
    }
}

/// A calendar month in a time zone, as a half-open UTC interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `YYYY-MM`.
    pub label: String,
    pub time_zone: Tz,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

fn month_start(year: i32, month: u32, tz: Tz) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(year, month, 1)?;
    // Midnight exists in every zone on the first of a month except where a
    // transition happens at midnight; take the earliest valid instant.
    let local = date.and_hms_opt(0, 0, 0)?;
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// Reads an IANA time zone name.
pub fn time_zone(name: &str) -> Result<Tz, StatementError> {
    name.parse::<Tz>()
        .map_err(|_| StatementError::BadTimeZone(name.to_owned()))
}

impl Period {
    /// The month `YYYY-MM` in `tz`.
    pub fn month(label: &str, tz: Tz) -> Result<Self, StatementError> {
        let bad = || StatementError::BadPeriod(label.to_owned());
        let (y, m) = label.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(2000..=2999).contains(&year) {
            return Err(bad());
        }
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        Ok(Period {
            label: format!("{year:04}-{month:02}"),
            time_zone: tz,
            start: month_start(year, month, tz).ok_or_else(bad)?,
            end: month_start(ny, nm, tz).ok_or_else(bad)?,
        })
    }

    /// The last complete month before `now` in `tz`.
    pub fn previous_month(now: DateTime<Utc>, tz: Tz) -> Self {
        let local = now.with_timezone(&tz);
        let (y, m) = if local.month() == 1 {
            (local.year() - 1, 12)
        } else {
            (local.year(), local.month() - 1)
        };
        Period::month(&format!("{y:04}-{m:02}"), tz).expect("a month before now is a valid period")
    }
}

/// One movement of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    pub effective_at: DateTime<Utc>,
    pub event_type: String,
    /// The stream of the fact (commission, payout batch) and its version.
    pub reference: String,
    pub version: u64,
    /// Signed minor units per field, as stored (debit positive).
    pub changes: BTreeMap<String, i64>,
}

/// A statement that opens, moves and closes consistently and ties to the
/// ledger (see the module documentation). Amounts are stored minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub tenant_id: TenantId,
    pub affiliate_id: AffiliateId,
    pub currency: Currency,
    pub period: Period,
    pub opening: [i64; 5],
    pub lines: Vec<StatementLine>,
    pub closing: [i64; 5],
    /// Movements dated after the period (already in the ledger's balance).
    pub later_lines: usize,
}

/// A stored value of the statement's `field`-th field as the affiliate
/// reads it: the domain's rule ([`AffiliateField::shown_checked`]).
fn shown_minor(field: usize, minor: i64) -> Option<i64> {
    AffiliateField::ALL[field].shown_checked(minor)
}

fn field_index(field: &str) -> Option<usize> {
    STATEMENT_FIELDS.iter().position(|f| *f == field)
}

fn add(into: &mut [i64; 5], changes: &BTreeMap<String, i64>) -> Result<(), StatementError> {
    for (field, delta) in changes {
        if let Some(i) = field_index(field) {
            into[i] = into[i]
                .checked_add(*delta)
                .ok_or(StatementError::Overflow {
                    field: STATEMENT_FIELDS[i],
                })?;
        }
    }
    Ok(())
}

impl Statement {
    /// Builds the statement of `period` from the owner's whole journal in
    /// the currency (any order) and its balance row now.
    pub fn build(
        tenant_id: TenantId,
        affiliate_id: AffiliateId,
        currency: &str,
        period: Period,
        journal: Vec<JournalLine>,
        ledger_now: &Fields,
    ) -> Result<Self, StatementError> {
        let currency = currency_from_code(currency).map_err(|e| StatementError::BadCurrency {
            currency: currency.to_owned(),
            reason: e.to_string(),
        })?;
        let mut opening = [0i64; 5];
        let mut later = [0i64; 5];
        let mut later_lines = 0;
        let mut lines = Vec::new();
        for line in journal {
            let effective_at = DateTime::parse_from_rfc3339(&line.effective_at)
                .map_err(|_| StatementError::BadLine {
                    stream: line.stream.clone(),
                    version: line.version,
                    value: line.effective_at.clone(),
                })?
                .with_timezone(&Utc);
            if effective_at < period.start {
                add(&mut opening, &line.deltas)?;
            } else if effective_at >= period.end {
                add(&mut later, &line.deltas)?;
                later_lines += 1;
            } else {
                lines.push(StatementLine {
                    effective_at,
                    event_type: line.event_type,
                    reference: line.stream,
                    version: line.version,
                    changes: line
                        .deltas
                        .into_iter()
                        .filter(|(f, v)| *v != 0 && field_index(f).is_some())
                        .collect(),
                });
            }
        }
        // By the instant shown (milliseconds); stable, so lines of one shown
        // instant keep the journal's order (a commission's recording before
        // its maturity, whatever their sub-millisecond effective times).
        lines.sort_by_key(|l| l.effective_at.timestamp_millis());
        let mut closing = opening;
        for line in &lines {
            add(&mut closing, &line.changes)?;
        }
        // Asserted here, not only in tests: opening + movements = closing
        // (by construction above) and closing + later = the ledger now.
        for (i, field) in STATEMENT_FIELDS.iter().enumerate() {
            let statement = closing[i]
                .checked_add(later[i])
                .ok_or(StatementError::Overflow { field })?;
            let ledger = ledger_now.get(*field).copied().unwrap_or(0);
            if statement != ledger {
                return Err(StatementError::DoesNotTie {
                    field,
                    statement,
                    ledger,
                });
            }
        }
        Ok(Statement {
            tenant_id,
            affiliate_id,
            currency,
            period,
            opening,
            lines,
            closing,
            later_lines,
        })
    }

    /// Nothing to say: no balance at either end and no movement.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.opening == [0; 5] && self.closing == [0; 5]
    }

    /// The amount as the affiliate reads it: pending, available and
    /// reserved are owed to the affiliate (credits), shown positive.
    fn shown(&self, field: usize, minor: i64) -> String {
        let Some(minor) = shown_minor(field, minor) else {
            return minor.to_string();
        };
        Money::from_minor(minor, self.currency)
            .map(|m| m.amount().to_string())
            .unwrap_or_else(|_| minor.to_string())
    }

    /// The closing available balance as money, as the statement shows it.
    pub fn closing_available(&self) -> Result<Money, StatementError> {
        self.closing_money(1)
    }

    /// The closing receivable (what the affiliate owes back) as money.
    pub fn closing_receivable(&self) -> Result<Money, StatementError> {
        self.closing_money(3)
    }

    fn closing_money(&self, field: usize) -> Result<Money, StatementError> {
        shown_minor(field, self.closing[field])
            .and_then(|minor| Money::from_minor(minor, self.currency).ok())
            .ok_or(StatementError::Overflow {
                field: STATEMENT_FIELDS[field],
            })
    }

    fn shown_all(&self, values: &[i64; 5]) -> BTreeMap<&'static str, String> {
        STATEMENT_FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, self.shown(i, values[i])))
            .collect()
    }

    /// The CSV rendering: an opening row, one row per movement, a closing
    /// row. Deterministic: its SHA-256 is the statement's content hash.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = String::with_capacity(128 * (self.lines.len() + 3));
        out.push_str("row,effective_at,event_type,reference,version");
        for f in STATEMENT_FIELDS {
            out.push(',');
            out.push_str(f);
        }
        out.push('\n');
        let mut row = |kind: &str,
                       at: &str,
                       event: &str,
                       reference: &str,
                       version: &str,
                       values: [i64; 5]| {
            out.push_str(kind);
            for cell in [at, event, reference, version] {
                out.push(',');
                out.push_str(cell);
            }
            for (i, v) in values.iter().enumerate() {
                out.push(',');
                out.push_str(&self.shown(i, *v));
            }
            out.push('\n');
        };
        let start = self
            .period
            .start
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let end = self
            .period
            .end
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        row("opening", &start, "", "", "", self.opening);
        for line in &self.lines {
            let mut values = [0i64; 5];
            for (f, v) in &line.changes {
                if let Some(i) = field_index(f) {
                    values[i] = *v;
                }
            }
            // Ids and event types are `[A-Za-z0-9._/:-]`: no quoting needed.
            row(
                "movement",
                &line
                    .effective_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                &line.event_type,
                &line.reference,
                &line.version.to_string(),
                values,
            );
        }
        row("closing", &end, "", "", "", self.closing);
        out.into_bytes()
    }

    /// The JSON rendering, with the CSV's content hash and the version.
    pub fn to_json(&self, meta: &VersionMeta) -> Vec<u8> {
        let lines: Vec<_> = self
            .lines
            .iter()
            .map(|l| {
                serde_json::json!({
                    "effective_at": l.effective_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "event_type": l.event_type,
                    "reference": l.reference,
                    "version": l.version,
                    "changes": l.changes.iter().filter_map(|(f, v)| {
                        field_index(f).map(|i| (f.clone(), self.shown(i, *v)))
                    }).collect::<BTreeMap<_, _>>(),
                })
            })
            .collect();
        let body = serde_json::json!({
            "format": STATEMENT_FORMAT,
            "tenant_id": self.tenant_id,
            "affiliate_id": self.affiliate_id,
            "currency": self.currency.code(),
            "period": self.period.label,
            "time_zone": self.period.time_zone.name(),
            "period_start": self.period.start,
            "period_end": self.period.end,
            "opening": self.shown_all(&self.opening),
            "lines": lines,
            "closing": self.shown_all(&self.closing),
            "checks": {
                "opening_plus_movements_equals_closing": true,
                "closing_ties_to_ledger_balance": true,
                "movements_after_period": self.later_lines,
            },
            "version": meta.version,
            "supersedes": meta.supersedes,
            "reason": meta.reason,
            "generated_at": meta.generated_at,
            "content_sha256": meta.content_sha256,
        });
        serde_json::to_vec_pretty(&body).expect("a JSON value serialises")
    }
}

/// What a stored version says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub version: u32,
    pub supersedes: Option<u32>,
    pub reason: String,
    pub generated_at: DateTime<Utc>,
    /// SHA-256 of the CSV rendering.
    pub content_sha256: String,
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at: &str, deltas: &[(&str, i64)]) -> JournalLine {
        JournalLine {
            token: "1".into(),
            stream: "acme/commission/c-1".into(),
            version: 1,
            event_type: "commission.recorded".into(),
            effective_at: at.into(),
            deltas: deltas.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn months_follow_the_time_zone() {
        let berlin = time_zone("Europe/Berlin").unwrap();
        let p = Period::month("2026-10", berlin).unwrap();
        assert_eq!(p.start.to_rfc3339(), "2026-09-30T22:00:00+00:00");
        assert_eq!(p.end.to_rfc3339(), "2026-10-31T23:00:00+00:00");
        for bad in ["2026-13", "2026-1", "26-10", "2026/10", "x"] {
            assert!(Period::month(bad, berlin).is_err(), "{bad}");
        }
        assert!(time_zone("Mars/Olympus").is_err());
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        assert_eq!(Period::previous_month(now, Tz::UTC).label, "2025-12");
    }

    #[test]
    fn a_statement_splits_lines_by_period_and_refuses_to_disagree_with_the_ledger() {
        let p = Period::month("2026-10", Tz::UTC).unwrap();
        let journal = vec![
            line("2026-09-20T10:00:00Z", &[("pending", -1000)]),
            line(
                "2026-10-02T10:00:00Z",
                &[("pending", 1000), ("available", -1000)],
            ),
            line("2026-10-03T10:00:00Z", &[("pending", -500)]),
            line("2026-11-01T00:00:00Z", &[("pending", -200)]),
        ];
        let ledger: Fields = [
            ("pending".to_owned(), -700),
            ("available".to_owned(), -1000),
        ]
        .into();
        let tenant = TenantId::new("acme").unwrap();
        let affiliate = AffiliateId::new("aff-1").unwrap();
        let s = Statement::build(
            tenant.clone(),
            affiliate.clone(),
            "EUR",
            p.clone(),
            journal.clone(),
            &ledger,
        )
        .unwrap();
        assert_eq!(s.opening, [-1000, 0, 0, 0, 0]);
        assert_eq!(s.closing, [-500, -1000, 0, 0, 0]);
        assert_eq!(s.lines.len(), 2);
        assert_eq!(s.later_lines, 1);
        let csv = String::from_utf8(s.to_csv()).unwrap();
        assert!(
            csv.contains("opening,2026-10-01T00:00:00Z,,,,10.00,0.00,0.00,0.00,0.00"),
            "{csv}"
        );
        assert!(
            csv.contains("closing,2026-11-01T00:00:00Z,,,,5.00,10.00,0.00,0.00,0.00"),
            "{csv}"
        );
        let wrong: Fields = [
            ("pending".to_owned(), -701),
            ("available".to_owned(), -1000),
        ]
        .into();
        assert_eq!(
            Statement::build(tenant, affiliate, "EUR", p, journal, &wrong),
            Err(StatementError::DoesNotTie {
                field: "pending",
                statement: -700,
                ledger: -701
            })
        );
    }
}
