//! The endpoint checks: creating, reading back, versioned updates and
//! listing a tenant's endpoints.

use std::sync::Arc;

use event_store::webhooks::{SigningSecret, WebhookStore};

use super::fixtures::{endpoint, is_conflict, t, tenant};

pub async fn endpoint_reads_back_equal(store: Arc<dyn WebhookStore>) {
    let mut e = endpoint(
        "acme",
        "we_000000000000000000000001",
        "https://a.example/hooks",
    );
    e.description = "Büro Zürich — 日本 ✓".to_owned();
    e.secrets.push(SigningSecret {
        secret: format!("whsec_{}", "cd".repeat(32)),
        created_at: t(-10),
        expires_at: Some(t(86_400)),
    });
    store.create_endpoint(&e).await.unwrap();
    assert_eq!(
        store.endpoint(&e.tenant_id, &e.endpoint_id).await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(
        store
            .endpoint(&e.tenant_id, "we_ffffffffffffffffffffffff")
            .await
            .unwrap(),
        None
    );
}

pub async fn endpoint_created_twice_is_a_conflict(store: Arc<dyn WebhookStore>) {
    let first = endpoint("acme", "we_000000000000000000000001", "https://a.example/1");
    store.create_endpoint(&first).await.unwrap();
    let second = endpoint("acme", "we_000000000000000000000001", "https://a.example/2");
    assert!(is_conflict(store.create_endpoint(&second).await));
    assert_eq!(
        store
            .endpoint(&first.tenant_id, &first.endpoint_id)
            .await
            .unwrap(),
        Some(first)
    );
}

pub async fn endpoint_update_checks_the_version(store: Arc<dyn WebhookStore>) {
    let e = endpoint("acme", "we_000000000000000000000001", "https://a.example/1");
    store.create_endpoint(&e).await.unwrap();

    let mut v2 = e.clone();
    v2.url = "https://a.example/2".to_owned();
    v2.enabled = false;
    v2.updated_at = t(60);
    v2.version = 2;
    store.update_endpoint(&v2).await.unwrap();
    let read = || store.endpoint(&e.tenant_id, &e.endpoint_id);
    assert_eq!(read().await.unwrap(), Some(v2.clone()));

    // A writer that read version 1 too: stale, and nothing changes.
    let mut stale = e.clone();
    stale.url = "https://a.example/stale".to_owned();
    stale.version = 2;
    assert!(is_conflict(store.update_endpoint(&stale).await));
    // A version that skips one, or one below the stored.
    let mut skipping = v2.clone();
    skipping.version = 4;
    assert!(is_conflict(store.update_endpoint(&skipping).await));
    let mut old = v2.clone();
    old.version = 1;
    assert!(is_conflict(store.update_endpoint(&old).await));
    assert_eq!(read().await.unwrap(), Some(v2.clone()));

    // Updating an endpoint that was never created.
    let mut missing = endpoint("acme", "we_00000000000000000000ffff", "https://a.example/x");
    missing.version = 2;
    assert!(is_conflict(store.update_endpoint(&missing).await));
    assert_eq!(
        store
            .endpoint(&missing.tenant_id, &missing.endpoint_id)
            .await
            .unwrap(),
        None
    );

    let mut v3 = v2.clone();
    v3.enabled = true;
    v3.version = 3;
    store.update_endpoint(&v3).await.unwrap();
    assert_eq!(read().await.unwrap(), Some(v3));
}

pub async fn endpoints_lists_one_tenants_by_id(store: Arc<dyn WebhookStore>) {
    for (t_id, id) in [
        ("acme", "we_00000000000000000000000c"),
        ("acme", "we_00000000000000000000000a"),
        ("globex", "we_00000000000000000000000b"),
        ("acme", "we_00000000000000000000000b"),
        ("acme-eu", "we_000000000000000000000000"),
    ] {
        store
            .create_endpoint(&endpoint(t_id, id, "https://h.example/"))
            .await
            .unwrap();
    }
    let listed = store.endpoints(&tenant("acme")).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|e| (e.tenant_id.to_string(), e.endpoint_id.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("acme".to_owned(), "we_00000000000000000000000a"),
            ("acme".to_owned(), "we_00000000000000000000000b"),
            ("acme".to_owned(), "we_00000000000000000000000c"),
        ]
    );
    assert_eq!(
        listed[0],
        endpoint("acme", "we_00000000000000000000000a", "https://h.example/")
    );
    assert_eq!(store.endpoints(&tenant("globex")).await.unwrap().len(), 1);
    assert!(
        store
            .endpoints(&tenant("initech"))
            .await
            .unwrap()
            .is_empty()
    );
}
