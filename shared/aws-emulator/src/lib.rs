//! The local AWS API emulator for tests and the local stack: moto's server,
//! started on a free loopback port, stopped when its handle drops (or, for a
//! handle kept in a static, when the process that started it exits).
//!
//! Where the `moto_server` executable is found, in order: the `MOTO_SERVER`
//! environment variable, the repository's `.venv/bin/moto_server` (which
//! `infra/setup-emulator.sh` creates), then `moto_server` on the `PATH`.
//!
//! moto is started with this crate's `python/` directory on `PYTHONPATH`:
//! its `sitecustomize.py` runs each DynamoDB operation whole, under one
//! lock, because moto's own transactions are not isolated (concurrent
//! `TransactWriteItems` see and undo each other's writes), while
//! DynamoDB's are.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// How long the emulator may take to start listening.
pub const START_TIMEOUT_MS_MAX: u64 = 60_000;

/// A running emulator.
pub struct Emulator {
    child: Child,
    port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(
        "moto_server was not found (looked at $MOTO_SERVER, {venv}, and the PATH): run infra/setup-emulator.sh, or pip install \"moto[server]\""
    )]
    NotInstalled { venv: String },
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("moto_server did not listen on 127.0.0.1:{port} within {timeout_ms} ms")]
    NotListening { port: u16, timeout_ms: u64 },
    #[error("no free loopback port: {0}")]
    NoPort(std::io::Error),
}

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `PYTHONPATH` for moto: the isolation patch first, then what was set.
fn python_path() -> std::ffi::OsString {
    let patch = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
    let inherited = std::env::var_os("PYTHONPATH").unwrap_or_default();
    let mut paths = vec![patch];
    paths.extend(std::env::split_paths(&inherited).filter(|p| !p.as_os_str().is_empty()));
    std::env::join_paths(paths)
        .unwrap_or_else(|_| std::env::var_os("PYTHONPATH").unwrap_or_default())
}

/// The moto_server executable to run.
pub fn moto_server_program() -> Result<PathBuf, EmulatorError> {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let venv = repository_root().join(".venv/bin/moto_server");
    if venv.is_file() {
        return Ok(venv);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("moto_server"))
            .find(|p| p.is_file())
    });
    on_path.ok_or_else(|| EmulatorError::NotInstalled {
        venv: venv.display().to_string(),
    })
}

fn free_port() -> Result<u16, EmulatorError> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(EmulatorError::NoPort)?;
    let port = listener.local_addr().map_err(EmulatorError::NoPort)?.port();
    Ok(port)
}

impl Emulator {
    /// Starts moto_server on a free port of 127.0.0.1 and waits until it listens.
    pub fn start() -> Result<Self, EmulatorError> {
        let program = moto_server_program()?;
        let port = free_port()?;
        // A watcher shell: it starts moto and kills it when the process that
        // started it (its parent) is gone, so a handle kept in a static never
        // outlives the test binary. It polls once a second, for as long as the
        // parent lives.
        let script = r#"parent=$PPID; "$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & moto=$!
trap 'kill $moto 2>/dev/null; exit 0' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 "$moto" 2>/dev/null; do sleep 1; done
kill $moto 2>/dev/null"#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&program)
            .arg(port.to_string())
            .env("PYTHONPATH", python_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| EmulatorError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let mut emulator = Emulator { child, port };
        let deadline = Instant::now() + Duration::from_millis(START_TIMEOUT_MS_MAX);
        while Instant::now() < deadline {
            if TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(emulator);
            }
            if let Ok(Some(_)) = emulator.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator.stop();
        Err(EmulatorError::NotListening {
            port,
            timeout_ms: START_TIMEOUT_MS_MAX,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration pointing at this emulator with static test
    /// credentials.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint_url())
    }

    fn stop(&mut self) {
        // SIGTERM lets the watcher kill moto before it exits.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An SDK configuration for an AWS-compatible endpoint with static test
/// credentials (the emulator accepts any), over plain HTTP: the SDK is
/// built without a default client, and an emulator speaks no TLS.
pub fn sdk_config_for(endpoint_url: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            Credentials::new("test", "test", None, None, "emulator"),
        ))
        .build()
}
