//! Immutable files in S3 or a local directory.
//!
//! Everything this product writes for people outside it (SEPA payment
//! files, statements, reconciliation reports) is created once and never
//! replaced: [`FileStore::create`] is a conditional create (`If-None-Match:
//! *` on S3, a hard link on a directory), so two writers racing for one key
//! leave the first file whole and tell the second it exists.
//!
//! Downloads are short-lived links: S3 presigned `GetObject` URLs, or, for
//! the local directory, links signed with HMAC-SHA256 that the local stack
//! verifies ([`LocalLinks`]).

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The S3 client of the function's SDK configuration. With
/// `AWS_ENDPOINT_URL` set (an emulator on loopback), buckets are addressed
/// by path, since a bucket's virtual-host name does not resolve there; on
/// AWS, by virtual host, as AWS recommends. Every S3 client of this product
/// is built here, so the two cannot differ between functions.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build(),
    )
}

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error("file key {key:?} is not allowed: {reason}")]
    BadKey { key: String, reason: &'static str },
    #[error("{0}")]
    Io(String),
}

/// The longest key accepted (S3 allows 1024 bytes).
pub const KEY_LEN_MAX: usize = 1024;

/// Keys are relative paths of `[A-Za-z0-9._-]` segments separated by `/`:
/// no `..`, no absolute path, nothing a directory store could escape with.
pub fn check_key(key: &str) -> Result<(), FileStoreError> {
    let bad = |reason| FileStoreError::BadKey {
        key: key.chars().take(80).collect(),
        reason,
    };
    if key.is_empty() || key.len() > KEY_LEN_MAX {
        return Err(bad("must be 1 to 1024 bytes"));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        return Err(bad("only letters, digits, '.', '_', '-' and '/'"));
    }
    // Segment by segment: `Path::components` would fold `a/./b` away.
    if key
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(bad("must be a relative path without '.' or '..' segments"));
    }
    Ok(())
}

/// Where files go.
#[derive(Debug, Clone)]
pub enum FileStore {
    Directory(PathBuf),
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

fn io(what: &str, key: &str, e: impl std::fmt::Display) -> FileStoreError {
    FileStoreError::Io(format!("{what} {key}: {e}"))
}

impl FileStore {
    /// The file's bytes, or `None` if there is none.
    pub async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, FileStoreError> {
        check_key(key)?;
        match self {
            FileStore::Directory(dir) => match tokio::fs::read(dir.join(key)).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io("read", key, e)),
            },
            FileStore::S3 { client, bucket } => {
                match client.get_object().bucket(bucket).key(key).send().await {
                    Ok(out) => {
                        let bytes = out.body.collect().await.map_err(|e| io("read", key, e))?;
                        Ok(Some(bytes.into_bytes().to_vec()))
                    }
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                    Err(e) => Err(io("read", key, aws_sdk_s3::error::DisplayErrorContext(e))),
                }
            }
        }
    }

    /// Writes unless the key exists; `false` if it did (nothing written).
    pub async fn create(
        &self,
        key: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<bool, FileStoreError> {
        check_key(key)?;
        match self {
            FileStore::Directory(dir) => {
                let path = dir.join(key);
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| io("mkdir for", key, e))?;
                }
                // Written aside, then linked into place: the name appears
                // whole or not at all, and never replaces a file.
                let tmp = path.with_extension(format!(
                    "tmp-{}-{}",
                    std::process::id(),
                    Utc::now().timestamp_nanos_opt().unwrap_or_default()
                ));
                tokio::fs::write(&tmp, &bytes)
                    .await
                    .map_err(|e| io("write", key, e))?;
                let linked = tokio::fs::hard_link(&tmp, &path).await;
                let _ = tokio::fs::remove_file(&tmp).await;
                match linked {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(io("write", key, e)),
                }
            }
            FileStore::S3 { client, bucket } => {
                let put = client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type(content_type)
                    .if_none_match("*")
                    .body(bytes.into())
                    .send()
                    .await;
                match put {
                    Ok(_) => Ok(true),
                    Err(e)
                        if e.raw_response().is_some_and(|r| {
                            r.status().as_u16() == 412 || r.status().as_u16() == 409
                        }) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(io("write", key, aws_sdk_s3::error::DisplayErrorContext(e))),
                }
            }
        }
    }

    /// Every key under `prefix` (which ends with `/`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, FileStoreError> {
        check_key(prefix.trim_end_matches('/'))?;
        let mut keys = Vec::new();
        match self {
            FileStore::Directory(dir) => {
                let mut pending = vec![dir.join(prefix)];
                while let Some(folder) = pending.pop() {
                    let mut entries = match tokio::fs::read_dir(&folder).await {
                        Ok(entries) => entries,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io("list", prefix, e)),
                    };
                    while let Some(entry) = entries
                        .next_entry()
                        .await
                        .map_err(|e| io("list", prefix, e))?
                    {
                        let path = entry.path();
                        let kind = entry.file_type().await.map_err(|e| io("list", prefix, e))?;
                        if kind.is_dir() {
                            pending.push(path);
                        } else if let Ok(relative) = path.strip_prefix(dir) {
                            let key = relative.to_string_lossy().replace('\\', "/");
                            // Skip half-written temporaries of `create`.
                            if !key.contains(".tmp-") {
                                keys.push(key);
                            }
                        }
                    }
                }
            }
            FileStore::S3 { client, bucket } => {
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| {
                        io("list", prefix, aws_sdk_s3::error::DisplayErrorContext(e))
                    })?;
                    keys.extend(
                        page.contents()
                            .iter()
                            .filter_map(|o| o.key().map(str::to_owned)),
                    );
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// A link to download the file that works for `ttl`: an S3 presigned
    /// URL, or for a directory a link signed by `local` (the local stack).
    /// `None` for a directory without local links.
    pub async fn download_link(
        &self,
        key: &str,
        ttl: Duration,
        local: Option<&LocalLinks>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, FileStoreError> {
        check_key(key)?;
        match self {
            FileStore::Directory(_) => Ok(local.map(|l| l.link(key, now, ttl))),
            FileStore::S3 { client, bucket } => {
                let config = aws_sdk_s3::presigning::PresigningConfig::builder()
                    .start_time(now.into())
                    .expires_in(ttl)
                    .build()
                    .map_err(|e| io("presign", key, e))?;
                let request = client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .presigned(config)
                    .await
                    .map_err(|e| io("presign", key, aws_sdk_s3::error::DisplayErrorContext(e)))?;
                Ok(Some(request.uri().to_owned()))
            }
        }
    }
}

/// Download links for files in a local directory, served by the local
/// stack at `{base_url}/files/{key}?expires=…&signature=…`. The signature is
/// HMAC-SHA256 over the key and expiry with a secret only the server knows,
/// so a link cannot be altered to reach another file or live longer.
#[derive(Clone)]
pub struct LocalLinks {
    base_url: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for LocalLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLinks")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Why a local download link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature does not match")]
    BadSignature,
}

impl LocalLinks {
    pub fn new(base_url: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        LocalLinks {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secret: secret.into(),
        }
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A link to `key` valid for `ttl` from `now`.
    pub fn link(&self, key: &str, now: DateTime<Utc>, ttl: Duration) -> String {
        let expires = now.timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        format!(
            "{}/files/{key}?expires={expires}&signature={}",
            self.base_url,
            self.signature(key, expires)
        )
    }

    /// Checks a link's expiry and signature (constant-time comparison).
    pub fn verify(
        &self,
        key: &str,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        let given = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        mac.verify_slice(&given)
            .map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_or_carry_odd_characters() {
        for bad in ["", "/abs", "a/../b", "a//b", "a/", "a b", "a/./b", "ü"] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
        check_key("statements/acme/aff-1/EUR/2026-10/v1.json").unwrap();
    }

    #[test]
    fn local_links_refuse_other_keys_tampering_and_expiry() {
        let links = LocalLinks::new("http://127.0.0.1:1", b"secret".to_vec());
        let now = Utc::now();
        let url = links.link("a/b.csv", now, Duration::from_secs(60));
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut signature = "";
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("signature", v) => signature = v,
                _ => {}
            }
        }
        links.verify("a/b.csv", expires, signature, now).unwrap();
        assert_eq!(
            links.verify("a/c.csv", expires, signature, now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            links.verify("a/b.csv", expires + 60, signature, now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            links.verify(
                "a/b.csv",
                expires,
                signature,
                now + chrono::Duration::seconds(61)
            ),
            Err(LinkError::Expired)
        );
    }

    #[tokio::test]
    async fn a_directory_never_overwrites_and_lists_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::Directory(dir.path().to_owned());
        assert!(
            store
                .create("x/a.json", "application/json", b"1".to_vec())
                .await
                .unwrap()
        );
        assert!(
            !store
                .create("x/a.json", "application/json", b"2".to_vec())
                .await
                .unwrap()
        );
        assert_eq!(store.read("x/a.json").await.unwrap().unwrap(), b"1");
        assert!(
            store
                .create("x/y/b.json", "application/json", b"3".to_vec())
                .await
                .unwrap()
        );
        assert_eq!(
            store.list("x/").await.unwrap(),
            vec!["x/a.json", "x/y/b.json"]
        );
        assert!(store.list("nothing/").await.unwrap().is_empty());
        assert!(store.read("x/none").await.unwrap().is_none());
        assert!(store.read("../etc/passwd").await.is_err());
    }
}
