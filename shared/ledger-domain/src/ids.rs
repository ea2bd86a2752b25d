//! Identifier newtypes. Each is a validated, cheaply clonable string: the
//! type says what it identifies, so an affiliate id can never be passed where
//! a commission id is expected.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The longest identifier accepted, in bytes.
pub const ID_LEN_MAX: usize = 64;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} is {len} bytes long; the limit is {max}")]
    TooLong {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{kind} {value:?} contains {found:?}; allowed are ASCII letters, digits and . _ - :")]
    InvalidCharacter {
        kind: &'static str,
        value: String,
        found: char,
    },
}

fn validate(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > ID_LEN_MAX {
        return Err(IdError::TooLong {
            kind,
            len: value.len(),
            max: ID_LEN_MAX,
        });
    }
    // '/' and '#' are reserved: stores use them to compose keys.
    if let Some(found) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')))
    {
        return Err(IdError::InvalidCharacter {
            kind,
            value: value.chars().take(ID_LEN_MAX).collect(),
            found,
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// What this identifier is called in error messages.
            pub const KIND: &'static str = $kind;

            pub fn new(value: impl AsRef<str>) -> Result<Self, IdError> {
                let value = value.as_ref();
                validate($kind, value)?;
                Ok(Self(Arc::from(value)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_ref().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

id_type!(
    /// A tenant: one affiliate program (merchant) using the network.
    TenantId,
    "tenant_id"
);
id_type!(
    /// An affiliate (publisher) who earns commissions.
    AffiliateId,
    "affiliate_id"
);
id_type!(
    /// A commission, as named by the tracking network (its own idempotency guard).
    CommissionId,
    "commission_id"
);
id_type!(
    /// A payout batch.
    PayoutBatchId,
    "payout_batch_id"
);
id_type!(
    /// One item of a payout batch: one affiliate, one currency, one processor.
    PayoutItemId,
    "payout_item_id"
);

id_type!(
    /// One drafting run (which may produce several batches).
    PayoutRunId,
    "payout_run_id"
);

id_type!(
    /// A processor notice that matched no payout item.
    NoticeId,
    "notice_id"
);

id_type!(
    /// One reconciliation of a processor report.
    ReconciliationRunId,
    "run_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_validate_and_name_the_field() {
        assert_eq!(TenantId::new("acme-1").unwrap().as_str(), "acme-1");
        assert_eq!(
            AffiliateId::new(""),
            Err(IdError::Empty {
                kind: "affiliate_id"
            })
        );
        let long = "a".repeat(ID_LEN_MAX + 1);
        assert!(matches!(
            CommissionId::new(&long),
            Err(IdError::TooLong {
                kind: "commission_id",
                ..
            })
        ));
        assert_eq!(
            PayoutBatchId::new("a/b").unwrap_err().to_string(),
            "payout_batch_id \"a/b\" contains '/'; allowed are ASCII letters, digits and . _ - :"
        );
        let json = serde_json::to_string(&PayoutItemId::new("i-1").unwrap()).unwrap();
        assert_eq!(json, "\"i-1\"");
        assert!(serde_json::from_str::<PayoutItemId>("\"bad id\"").is_err());
    }
}
