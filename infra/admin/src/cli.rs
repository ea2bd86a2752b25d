//! The command line: clap's definitions of the commands and their flags.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "ledger-admin",
    about = "Operate the affiliate ledger: tables, tokens, replay, verify, show, dead letters, parked projections, webhooks"
)]
pub(crate) struct Cli {
    /// The embedded store's data directory.
    #[arg(long, default_value = "data", global = true)]
    pub(crate) data_dir: PathBuf,
    /// DynamoDB at this endpoint (an emulator) instead of the embedded store.
    #[arg(long, global = true)]
    pub(crate) aws_endpoint: Option<String>,
    /// DynamoDB of the AWS account and region in the environment.
    #[arg(long, global = true, conflicts_with = "aws_endpoint")]
    pub(crate) aws: bool,
    /// The DynamoDB tables' name prefix.
    #[arg(long, default_value = "ledger-", global = true)]
    pub(crate) table_prefix: String,
    /// The DynamoDB projection tables' name prefix, when not --table-prefix
    /// (to rebuild into fresh tables; they must exist).
    #[arg(long, global = true)]
    pub(crate) projection_prefix: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create the ledger's DynamoDB tables (events, idempotency,
    /// checkpoints, projection, webhooks) under --table-prefix where they
    /// are missing: at --aws-endpoint (an emulator) or with --aws (an
    /// account where SAM does not create them). Tables that exist are left
    /// as they are.
    CreateTables,
    /// Mint a development token of the local stack's issuer.
    Token(local_stack::TokenArgs),
    /// Project the events into the ledger (journal and balances), from where
    /// the projection stopped; resumable at any point.
    Replay {
        /// Clear the projection first and rebuild it from the first event
        /// (every tenant's balances are gone until the replay ends).
        #[arg(long)]
        from_scratch: bool,
        /// Confirms --from-scratch.
        #[arg(long)]
        yes: bool,
        /// Say what would be done, do nothing.
        #[arg(long)]
        dry_run: bool,
        /// Events per step (one transaction each on the embedded store).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Stop after about this many events (run again to go on).
        #[arg(long)]
        max_events: Option<u64>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Prove the ledger: the trial balance of every tenant and currency is
    /// zero, and balances rebuilt from the events equal the stored ones.
    Verify {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Show one affiliate or one payout batch.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Messages that exhausted their retries: list them, re-drive them.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetters,
    },
    /// The DynamoDB projection: parked events (list, retry) and the tenant
    /// index of balance rows.
    Projection {
        #[command(subcommand)]
        action: crate::parked::Projection,
    },
    /// Tenants' webhook endpoints and deliveries: list, parked, replay.
    Webhooks {
        #[command(subcommand)]
        action: crate::webhooks::Webhooks,
    },
}

#[derive(Subcommand)]
pub(crate) enum Show {
    /// Balances in every currency and the journal.
    Affiliate {
        #[arg(long)]
        tenant: String,
        affiliate: String,
        /// Only this currency's journal.
        #[arg(long)]
        currency: Option<String>,
        /// Journal lines shown per currency.
        #[arg(long, default_value_t = 50)]
        lines: usize,
    },
    /// The batch's state and each item's history.
    Batch {
        #[arg(long)]
        tenant: String,
        batch: String,
    },
}

/// Where DynamoDB events are read from.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Source {
    /// The events table's stream (it keeps 24 hours of records).
    Stream,
    /// The events table itself: a paged, parallel scan of the whole history.
    Table,
}

#[derive(clap::Args, Clone, Copy)]
pub(crate) struct SourceArgs {
    /// On DynamoDB: read the events from the table's stream, or the table.
    #[arg(long, value_enum, default_value_t = Source::Stream)]
    pub(crate) source: Source,
    /// With --source table: the scan's parallel segments.
    #[arg(long, default_value_t = 4)]
    pub(crate) segments: u32,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Queue {
    Commissions,
    Dispatch,
}

impl Queue {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Queue::Commissions => "commissions",
            Queue::Dispatch => "dispatch",
        }
    }
}

#[derive(clap::Args)]
pub(crate) struct QueueArgs {
    #[arg(long, value_enum)]
    pub(crate) queue: Queue,
    #[arg(long)]
    pub(crate) tenant: String,
    /// The local stack (embedded default).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub(crate) stack_url: String,
    /// An SQS dead-letter queue URL instead of the local stack.
    #[arg(long)]
    pub(crate) sqs_dead_letter_url: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum DeadLetters {
    List {
        #[command(flatten)]
        queue: QueueArgs,
    },
    /// Move dead letters back to their queue (safe: ingest is idempotent by
    /// key, dispatch asks the processor before paying).
    Redrive {
        #[command(flatten)]
        queue: QueueArgs,
        /// The messages to move (repeatable).
        #[arg(long = "message-id")]
        message_ids: Vec<String>,
        /// Every dead letter of the tenant: must be said explicitly.
        #[arg(long, conflicts_with = "message_ids")]
        all: bool,
        /// With SQS: the queue to move them to.
        #[arg(long)]
        sqs_target_url: Option<String>,
        #[arg(long)]
        dry_run: bool,
    },
}
