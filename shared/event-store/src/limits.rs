//! The store's limits: item, transaction, key and read sizes every adapter
//! enforces alike.

/// The most store items one transaction may write: DynamoDB's
/// `TransactWriteItems` limit, applied to every adapter alike.
pub const TRANSACTION_ITEMS_MAX: usize = 100;
/// The largest stored event item, in bytes: DynamoDB's 400 KB item limit,
/// read as 400,000 bytes (the strictest reading, which every emulator and
/// every region accepts).
pub const EVENT_ITEM_BYTES_MAX: usize = 400_000;
/// Bytes reserved in an item for everything but the payload (key, type,
/// hashes, times, idempotency fields and DynamoDB's attribute names).
pub const EVENT_ITEM_OVERHEAD_BYTES: usize = 1024;
/// The longest stream id, in bytes.
pub const STREAM_ID_LEN_MAX: usize = 256;
/// The longest idempotency key, in bytes.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 128;
/// The most events one read returns.
pub const READ_LIMIT_MAX: usize = 1000;
/// The longest operation name of a request's idempotency record, in bytes.
pub const OPERATION_LEN_MAX: usize = 64;
/// The largest answer an idempotency record keeps, in bytes (a bulk of 99
/// commission results is about 15 KB).
pub const IDEMPOTENCY_ANSWER_BYTES_MAX: usize = 64 * 1024;
