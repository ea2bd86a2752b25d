//! The reconcile function's trigger: the sample S3 event deserialises as
//! the runtime hands it over, and its key names a tenant and a processor.

use aws_lambda_events::event::s3::S3Event;

#[test]
fn the_sample_s3_event_names_a_report_of_a_tenant_and_processor() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/s3/report-created.json"
    ))
    .unwrap();
    let event: S3Event = serde_json::from_str(&text).unwrap();
    let key = event.records[0].s3.object.key.clone().unwrap();
    let (tenant, processor) = reporting::reconcile::source_of(&key).unwrap();
    assert_eq!((tenant.as_str(), processor.as_str()), ("acme", "stripe"));
    assert!(reporting::reconcile::source_of("statements/acme/x.json").is_err());
}
