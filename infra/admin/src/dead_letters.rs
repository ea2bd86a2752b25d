//! `dead-letters`: listing and re-driving the messages that exhausted
//! their retries, on the local stack or SQS.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cli::{Cli, DeadLetters};
use crate::failure::tenant;
use crate::failure::{Failure, failed, refused};

pub(crate) async fn dead_letters(cli: &Cli, action: &DeadLetters) -> Result<(), Failure> {
    let (queue, dry_run) = match action {
        DeadLetters::List { queue } => (queue, true),
        DeadLetters::Redrive { queue, dry_run, .. } => (queue, *dry_run),
    };
    let tenant_id = tenant(&queue.tenant)?;
    if let Some(dlq) = &queue.sqs_dead_letter_url {
        return sqs_dead_letters(cli, action, dlq, dry_run).await;
    }
    let key = local_stack::signing_key(&cli.data_dir).map_err(failed)?;
    let token = local_stack::mint_token(&key, tenant_id.as_str(), "admin", "ledger-admin", None)
        .map_err(failed)?;
    let base = format!(
        "{}/local/queues/{}/dead-letters",
        queue.stack_url.trim_end_matches('/'),
        queue.queue.path()
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(failed)?;
    let listed: serde_json::Value = http
        .get(&base)
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| failed(format!("the local stack at {}: {e}", queue.stack_url)))?
        .error_for_status()
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)?;
    let letters = listed["dead_letters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let DeadLetters::Redrive {
        message_ids, all, ..
    } = action
    else {
        println!(
            "{} dead letters in {} for {tenant_id}",
            letters.len(),
            queue.queue.path()
        );
        for letter in &letters {
            println!("{letter}");
        }
        return Ok(());
    };
    if message_ids.is_empty() && !all {
        return Err(refused(
            "name the messages with --message-id, or pass --all to re-drive every dead letter of the tenant",
        ));
    }
    let chosen: Vec<&serde_json::Value> = letters
        .iter()
        .filter(|l| *all || message_ids.iter().any(|id| l["message_id"] == id.as_str()))
        .collect();
    let unknown: Vec<&String> = message_ids
        .iter()
        .filter(|id| !letters.iter().any(|l| l["message_id"] == id.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(refused(format!(
            "not dead letters of {tenant_id}: {unknown:?}"
        )));
    }
    if dry_run {
        println!(
            "would move {} dead letters back to {}:",
            chosen.len(),
            queue.queue.path()
        );
        for letter in chosen {
            println!("  {}", letter["message_id"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    let body = if *all {
        serde_json::json!({"all": true})
    } else {
        serde_json::json!({"message_ids": message_ids})
    };
    let moved: serde_json::Value = http
        .post(format!("{base}/redrive"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .map_err(failed)?
        .error_for_status()
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)?;
    println!(
        "moved back to {}: {}",
        queue.queue.path(),
        moved["redriven"]
    );
    Ok(())
}

async fn sqs_dead_letters(
    cli: &Cli,
    action: &DeadLetters,
    dlq: &str,
    dry_run: bool,
) -> Result<(), Failure> {
    let sqs = aws_sdk_sqs::Client::new(&crate::backend::sdk_config(cli).await);
    // Received with a short visibility timeout: listed messages reappear.
    let mut seen = BTreeMap::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| failed(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            seen.insert(m.message_id().unwrap_or_default().to_owned(), m.clone());
        }
    }
    let DeadLetters::Redrive {
        message_ids,
        all,
        sqs_target_url,
        ..
    } = action
    else {
        println!(
            "{} dead letters in {dlq} (hidden for 30 s by this listing)",
            seen.len()
        );
        for (id, m) in &seen {
            println!("{id} {}", m.body().unwrap_or_default());
        }
        return Ok(());
    };
    if message_ids.is_empty() && !all {
        return Err(refused(
            "name the messages with --message-id, or pass --all to re-drive the whole queue",
        ));
    }
    let Some(target) = sqs_target_url else {
        return Err(refused("--sqs-target-url is required to re-drive from SQS"));
    };
    let chosen: Vec<_> = seen
        .iter()
        .filter(|(id, _)| *all || message_ids.contains(id))
        .collect();
    if dry_run {
        println!(
            "would move {} messages from {dlq} to {target}",
            chosen.len()
        );
        return Ok(());
    }
    for (id, m) in chosen {
        sqs.send_message()
            .queue_url(target)
            .message_body(m.body().unwrap_or_default())
            .set_message_attributes(m.message_attributes().cloned())
            .send()
            .await
            .map_err(|e| failed(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        sqs.delete_message()
            .queue_url(dlq)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .map_err(|e| failed(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        println!("moved {id}");
    }
    Ok(())
}
