//! The finance console and the affiliate portal in a real browser: headless
//! Chromium driven over WebDriver (chromedriver) against the local stack.
//!
//! An affiliate signs in and downloads a statement; a maker drafts, the
//! same maker's approve is refused on the page, a second person approves,
//! the sandbox pays and the page shows paid; finance reads liabilities,
//! exports them as CSV and resolves a reconciliation mismatch. Screenshots
//! of each page are written under `target/browser/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`infra/test.sh`
//! installs them and sets `REQUIRE_BROWSER=1`, so a missing browser fails
//! there; elsewhere the test says it is skipped).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;
use event_store_sqlite::SqliteEventStore;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::rt::TokioExecutor;
use local_stack::{Backend, local_processors, mint_token, start_full};
use serde_json::{Value, json};
use support::{HttpClient, call, eventually};

/// How long one page step may take.
const STEP_SECONDS: u64 = 30;

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn executable(env: &str, name: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

async fn start_driver(chromedriver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut options = json!({
        "args": args,
        "prefs": {
            "download.default_directory": downloads.display().to_string(),
            "download.prompt_for_download": false,
            "safebrowsing.enabled": false,
        },
    });
    if let Some(binary) = executable("CHROMIUM", "chromium") {
        options["binary"] = binary.display().to_string().into();
    }
    caps.insert("goog:chromeOptions".to_owned(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn page_text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until an element matching `css` holds `needle`; returns its text.
async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(STEP_SECONDS);
    loop {
        if let Ok(elements) = c.find_all(Locator::Css(css)).await {
            for e in elements {
                if let Ok(text) = e.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            screenshot(c, "failure").await;
            let errors: Value = c
                .execute("return window.__errors || [];", vec![])
                .await
                .unwrap_or_default();
            panic!(
                "script errors {errors}; no {css} holding {needle:?}; the page says:\n{}",
                page_text(c).await
            );
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(STEP_SECONDS))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c
        .wait()
        .at_most(Duration::from_secs(STEP_SECONDS))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn sign_in(c: &Client, base: &str, role: &str, subject: &str, affiliate: Option<&str>) {
    c.goto(&format!("{base}/")).await.unwrap();
    fill(c, "#tenant", "acme").await;
    fill(c, "#subject", subject).await;
    c.find(Locator::Css("#role"))
        .await
        .unwrap()
        .select_by_value(role)
        .await
        .unwrap();
    if let Some(affiliate) = affiliate {
        fill(c, "#affiliate", affiliate).await;
    }
    click(c, "#sign-in").await;
    wait_text(c, "#who", subject).await;
}

async fn sign_out(c: &Client) {
    click(c, "#sign-out").await;
    wait_text(c, "h1", "Sign in").await;
}

/// Waits for a downloaded file whose name starts with `prefix`.
async fn downloaded(dir: &Path, prefix: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(STEP_SECONDS);
    loop {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix) && !name.ends_with(".crdownload") {
                    return std::fs::read_to_string(entry.path()).unwrap();
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            panic!("no download named {prefix}* in {}", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Mismatches for the console to find: a paid Stripe batch and the sample
/// report reconciled against it, as the reconcile function records them.
async fn reconciled(store: &SqliteEventStore) {
    use ledger_domain::{Processor, TenantId};
    use reporting::fixture::{paid_batch, sample_day, sample_items};
    let acme = TenantId::new("acme").unwrap();
    paid_batch(
        store,
        &acme,
        Processor::Stripe,
        &sample_items(Processor::Stripe),
        sample_day(),
    )
    .await
    .unwrap();
    let report = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../events/reports/stripe-balance-change-from-activity.csv"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    reporting::reconcile::reconcile_report_with(
        &processors::ProcessorReports,
        store,
        store,
        &file_store::FileStore::Directory(dir.path().to_owned()),
        "reports/acme/stripe/2026-11.csv",
        &report,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_and_an_affiliate_do_their_work_in_the_browser() {
    let (Some(chromedriver), true) = (
        executable("CHROMEDRIVER", "chromedriver"),
        executable("CHROMIUM", "chromium").is_some(),
    ) else {
        assert!(
            std::env::var_os("REQUIRE_BROWSER").is_none(),
            "REQUIRE_BROWSER is set but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: no chromium/chromedriver (apt-get install chromium chromium-driver)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("ledger.sqlite")).unwrap();
    reconciled(&store).await;
    let key = local_stack::signing_key(dir.path()).unwrap();
    let files = dir.path().join("files");
    let processors = Arc::new(local_processors(Some(&files)).unwrap());
    let running = start_full(
        Backend::Embedded(store),
        key.clone(),
        0,
        processors,
        Some(files),
    )
    .await
    .unwrap();
    let base = format!("http://{}", running.address);
    let http: HttpClient = Hyper::builder(TokioExecutor::new()).build_http();
    let ingest = mint_token(&key, "acme", "ingest", "tracking", None).unwrap();
    let maria = mint_token(&key, "acme", "finance-maker", "maria", None).unwrap();

    // Earnings: anna's last month (for a statement), ben's this month; both
    // payable through the sandbox.
    let now = chrono::Utc::now();
    let last_month = (now.date_naive().with_day(1).unwrap() - chrono::Duration::days(1))
        .with_day(10)
        .unwrap();
    let period = last_month.format("%Y-%m").to_string();
    let commissions = json!({"commissions": [
        {"commission_id": "c-web-1", "affiliate_id": "aff-anna", "amount": "100.00", "currency": "EUR",
         "conversion_id": "conv-web-1", "hold_period_days": 0,
         "occurred_at": format!("{last_month}T12:00:00Z")},
        {"commission_id": "c-web-2", "affiliate_id": "aff-ben", "amount": "50.00", "currency": "EUR",
         "conversion_id": "conv-web-2", "hold_period_days": 0,
         "occurred_at": (now - chrono::Duration::hours(1)).to_rfc3339()},
        {"commission_id": "c-web-3", "affiliate_id": "aff-anna", "amount": "25.00", "currency": "EUR",
         "conversion_id": "conv-web-3", "hold_period_days": 30,
         "occurred_at": (now - chrono::Duration::hours(1)).to_rfc3339()},
    ]});
    let (status, body) = call(
        &http,
        "POST",
        &format!("{base}/v1/commissions"),
        &ingest,
        Some(commissions),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for affiliate in ["aff-anna", "aff-ben"] {
        let (status, body) = call(
            &http,
            "PUT",
            &format!("{base}/v1/affiliates/{affiliate}/payout-method"),
            &maria,
            Some(json!({"method": {"processor": "sandbox", "behaviour": "settle"}})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    for (affiliate, amount) in [("aff-anna", "100.00"), ("aff-ben", "50.00")] {
        eventually(STEP_SECONDS, || async {
            let (_, body) = call(
                &http,
                "GET",
                &format!("{base}/v1/affiliates/{affiliate}/balances"),
                &maria,
                None,
            )
            .await;
            (body["balances"][0]["available"] == amount).then_some(())
        })
        .await;
    }
    let (status, body) = call(
        &http,
        "POST",
        &format!("{base}/v1/statement-runs"),
        &maria,
        Some(json!({"period": period})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["created"].as_u64().unwrap() >= 1, "{body}");

    // The pending list names the field it needs, and is the affiliate's own.
    let anna = mint_token(&key, "acme", "affiliate", "anna", Some("aff-anna")).unwrap();
    let (status, body) = call(
        &http,
        "GET",
        &format!("{base}/v1/affiliates/aff-anna/pending"),
        &anna,
        None,
    )
    .await;
    assert_eq!(
        (status, &body["errors"][0]["field"]),
        (400, &json!("currency")),
        "{body}"
    );
    let (status, _) = call(
        &http,
        "GET",
        &format!("{base}/v1/affiliates/aff-ben/pending?currency=EUR"),
        &anna,
        None,
    )
    .await;
    assert_eq!(status, 403);

    let driver = start_driver(&chromedriver).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = browser(&driver, &dir.path().join("chromium"), &downloads).await;

    // The sign-in page; a bad sign-in shows the problem, naming the field.
    c.goto(&format!("{base}/")).await.unwrap();
    wait_text(&c, "h1", "Sign in").await;
    screenshot(&c, "sign-in").await;
    fill(&c, "#tenant", "acme").await;
    fill(&c, "#subject", "anna").await;
    c.find(Locator::Css("#role"))
        .await
        .unwrap()
        .select_by_value("affiliate")
        .await
        .unwrap();
    click(&c, "#sign-in").await;
    wait_text(&c, ".problem", "affiliate_id").await;

    // An affiliate sees its balances and downloads its statement.
    sign_in(&c, &base, "affiliate", "anna", Some("aff-anna")).await;
    wait_text(&c, "#balances", "100.00").await;
    wait_text(&c, "#statements", &period).await;
    wait_text(&c, "#activity", "commission matured").await;
    let matures = (now - chrono::Duration::hours(1) + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let pending = wait_text(&c, "#pending", "c-web-3").await;
    assert!(
        pending.contains(&matures) && pending.contains("25.00"),
        "{pending}"
    );
    screenshot(&c, "affiliate-portal").await;
    click(&c, "#statements button[data-format='csv']").await;
    let statement = downloaded(&downloads, &format!("statement-aff-anna-EUR-{period}")).await;
    assert!(statement.contains("100.00"), "{statement}");
    sign_out(&c).await;

    // The maker (an admin, who may approve batches others drafted) drafts;
    // her own approve is refused on the page: four eyes.
    sign_in(&c, &base, "admin", "maria", None).await;
    fill(&c, "#draft-currency", "EUR").await;
    click(&c, "#draft").await;
    wait_text(&c, ".ok", "2 items drafted").await;
    let card = "article.batch";
    wait_text(&c, card, "drafted").await;
    let batch_id = c
        .find(Locator::Css(card))
        .await
        .unwrap()
        .attr("data-batch")
        .await
        .unwrap()
        .expect("the card names its batch");
    let card = format!("article.batch[data-batch='{batch_id}']");
    let card = card.as_str();
    click(&c, "article.batch button[data-action='approve']").await;
    let refusal = wait_text(&c, "article.batch .problem", "cannot approve").await;
    assert!(refusal.contains("second person"), "{refusal}");
    screenshot(&c, "four-eyes-refused").await;

    // Liabilities and their CSV export.
    c.goto(&format!("{base}/#/liabilities")).await.unwrap();
    wait_text(&c, "#liabilities", "EUR").await;
    screenshot(&c, "liabilities").await;
    click(&c, "main button.secondary").await;
    let csv = downloaded(&downloads, "liabilities").await;
    assert!(csv.starts_with("tenant_id,as_of,currency,"), "{csv}");
    assert!(csv.contains(",EUR,"), "{csv}");

    // Affiliates with their balances; one's payout method, masked.
    c.goto(&format!("{base}/#/affiliates")).await.unwrap();
    wait_text(&c, "#affiliates", "aff-ben").await;
    screenshot(&c, "affiliates").await;

    // A reconciliation mismatch resolved with a note.
    let open = |http: HttpClient| {
        let (base, maria) = (base.clone(), maria.clone());
        async move {
            let (_, body) = call(
                &http,
                "GET",
                &format!("{base}/v1/reconciliation/mismatches?status=open&limit=50"),
                &maria,
                None,
            )
            .await;
            body["mismatches"].as_array().map(Vec::len).unwrap_or(0)
        }
    };
    let before = open(http.clone()).await;
    assert!(before > 0, "the sample report has mismatches");
    c.goto(&format!("{base}/#/reconciliation")).await.unwrap();
    wait_text(&c, "#mismatches", "open").await;
    screenshot(&c, "reconciliation").await;
    fill(
        &c,
        "#mismatches article.mismatch input[name='note']",
        "checked with Stripe support",
    )
    .await;
    click(&c, "#mismatches article.mismatch button[type='submit']").await;
    wait_text(&c, "#mismatches", "Resolved").await;
    assert_eq!(open(http.clone()).await, before - 1);
    sign_out(&c).await;

    // A second person approves; the sandbox pays; the page shows paid.
    sign_in(&c, &base, "finance-approver", "omar", None).await;
    wait_text(&c, card, "drafted").await;
    click(&c, "article.batch button[data-action='approve']").await;
    wait_text(&c, "article.batch .ok", "Approved").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(STEP_SECONDS);
    loop {
        c.goto(&format!("{base}/#/batches")).await.unwrap();
        c.refresh().await.unwrap();
        let text = wait_text(&c, card, &batch_id).await;
        if text.matches("paid").count() >= 2 && text.contains("approved") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the batch was not paid:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    c.execute(
        "document.querySelector(arguments[0]).scrollIntoView();",
        vec![json!(card)],
    )
    .await
    .unwrap();
    screenshot(&c, "finance-batches-paid").await;
    sign_out(&c).await;

    // The web app is keyboard- and screen-reader-usable: every control is
    // labelled, on a phone-sized window too.
    c.set_window_size(390, 844).await.unwrap();
    sign_in(&c, &base, "affiliate", "anna", Some("aff-anna")).await;
    wait_text(&c, "#balances", "EUR").await;
    let unlabelled: Value = c
        .execute(
            "return [...document.querySelectorAll('input, select, button')].filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.outerHTML);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, json!([]), "every control has a label");
    screenshot(&c, "affiliate-portal-phone").await;

    c.close().await.unwrap();
    drop(driver);
    running.shutdown().await.unwrap();
}
