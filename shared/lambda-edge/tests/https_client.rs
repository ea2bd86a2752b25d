//! The functions' own SDK HTTP client (rustls on ring, built in
//! `config::https_client`) carries real requests: here to the emulator over
//! plain HTTP, as `AWS_ENDPOINT_URL` points a function at one. A client that
//! could not connect, or an SDK left without a client (it is built without
//! its default one), fails this.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_emulator::Emulator;

#[tokio::test]
async fn the_functions_http_client_reaches_an_endpoint() {
    let emulator =
        Emulator::start().unwrap_or_else(|e| panic!("this test needs the emulator: {e}"));
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(emulator.endpoint_url())
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .http_client(lambda_edge::config::https_client())
        .build();
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let tables = dynamodb
        .list_tables()
        .send()
        .await
        .expect("a request over the functions' client");
    assert!(tables.table_names().is_empty());
    let sqs = aws_sdk_sqs::Client::new(&config);
    let created = sqs
        .create_queue()
        .queue_name("reached")
        .send()
        .await
        .expect("a second service over the same client");
    assert!(
        created
            .queue_url()
            .is_some_and(|url| url.ends_with("/reached"))
    );
}
