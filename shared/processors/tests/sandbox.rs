//! The sandbox processor settles, fails, or times out once after paying,
//! and never pays one key twice.

mod support;

use ledger_app::payouts::{FetchPaymentStatus, PaymentStatus, ProcessorError, SubmitPayment};
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::{Currency, PayoutMethod};
use processors::sandbox::Sandbox;
use support::order;

fn with(behaviour: SandboxBehaviour) -> PayoutMethod {
    PayoutMethod::Sandbox { behaviour }
}

#[tokio::test]
async fn behaviours() {
    let sandbox = Sandbox::new();
    let settle = order("i-1", "1.00", Currency::EUR, with(SandboxBehaviour::Settle));
    let paid = sandbox.submit(&settle).await.unwrap();
    assert!(matches!(paid, PaymentStatus::Paid { .. }));
    assert_eq!(sandbox.submit(&settle).await.unwrap(), paid, "idempotent");
    let fail = order("i-2", "1.00", Currency::EUR, with(SandboxBehaviour::Fail));
    assert!(matches!(
        sandbox.submit(&fail).await.unwrap(),
        PaymentStatus::Failed { .. }
    ));
    assert_eq!(sandbox.status(&fail).await.unwrap(), None);
    let slow = order(
        "i-3",
        "1.00",
        Currency::EUR,
        with(SandboxBehaviour::TimeoutThenSettle),
    );
    assert!(matches!(
        sandbox.submit(&slow).await,
        Err(ProcessorError::Unknown(_))
    ));
    assert!(matches!(
        sandbox.status(&slow).await.unwrap(),
        Some(PaymentStatus::Paid { .. })
    ));
    assert_eq!(
        sandbox.payments().len(),
        2,
        "one payment per key, whatever the retries"
    );
    assert_eq!(sandbox.submissions(), 4);
    // A notification per payment made, once; a return notice for the
    // behaviour that has one.
    let notes = sandbox.take_notifications();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().all(|n| n.contains("\"item.paid\"")));
    assert!(sandbox.take_notifications().is_empty());
    let back = order(
        "i-4",
        "1.00",
        Currency::EUR,
        with(SandboxBehaviour::ReturnAfterPaid),
    );
    assert!(matches!(
        sandbox.submit(&back).await.unwrap(),
        PaymentStatus::Paid { .. }
    ));
    let notes = sandbox.take_notifications();
    assert_eq!(notes.len(), 2);
    assert!(notes[1].contains("\"item.returned\""));
}
