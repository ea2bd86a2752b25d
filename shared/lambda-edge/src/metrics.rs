//! Counters in CloudWatch Embedded Metric Format: one JSON line on stdout
//! per flush, which CloudWatch Logs turns into metrics with no agent and no
//! API call. Namespace `AffiliateLedger`, dimension `Function` (and
//! `Tenant` where a tenant is known).

use serde_json::{Map, Value, json};

/// The metrics namespace.
pub const NAMESPACE: &str = "AffiliateLedger";

/// One EMF document: counts (unit `Count`) or milliseconds (`Milliseconds`).
#[derive(Debug, Clone)]
pub struct Metrics {
    function: String,
    tenant: Option<String>,
    values: Vec<(&'static str, f64, &'static str)>,
}

impl Metrics {
    pub fn new(function: &str) -> Self {
        Metrics {
            function: function.to_owned(),
            tenant: None,
            values: Vec::new(),
        }
    }

    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_owned());
        self
    }

    pub fn count(mut self, name: &'static str, n: usize) -> Self {
        self.values.push((name, n as f64, "Count"));
        self
    }

    pub fn milliseconds(mut self, name: &'static str, ms: f64) -> Self {
        self.values.push((name, ms, "Milliseconds"));
        self
    }

    /// The EMF document, timestamped `now_ms` (Unix milliseconds).
    pub fn document(&self, now_ms: i64) -> Value {
        let mut dimensions = vec!["Function"];
        let mut root = Map::new();
        root.insert("Function".into(), json!(self.function));
        if let Some(tenant) = &self.tenant {
            dimensions.push("Tenant");
            root.insert("Tenant".into(), json!(tenant));
        }
        let metrics: Vec<Value> = self
            .values
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        for (name, value, _) in &self.values {
            root.insert((*name).into(), json!(value));
        }
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": now_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(root)
    }

    /// Writes the document to stdout, where Lambda sends it to CloudWatch
    /// Logs. Only inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set): the local
    /// stack and the tests stay quiet.
    pub fn emit(&self) {
        if self.values.is_empty() || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none() {
            return;
        }
        println!("{}", self.document(chrono::Utc::now().timestamp_millis()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let doc = Metrics::new("ingest-commissions")
            .tenant("acme")
            .count("CommissionsIngested", 3)
            .count("Duplicates", 1)
            .document(1_795_168_800_000);
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_168_800_000i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"][0], json!(["Function", "Tenant"]));
        // Every metric and dimension named in the directive is a root member.
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(doc[m["Name"].as_str().unwrap()].is_number(), "{m}");
            assert_eq!(m["Unit"], "Count");
        }
        assert_eq!(doc["Function"], "ingest-commissions");
        assert_eq!(doc["Tenant"], "acme");
        assert_eq!(doc["CommissionsIngested"], 3.0);
    }
}
