//! Where a delivery may go. On AWS only `https` URLs whose host resolves
//! to public addresses only: never loopback, private, link-local (the
//! instance metadata service), shared, documentation, multicast or
//! reserved ranges, so an endpoint cannot reach into the VPC. The address
//! is checked when the endpoint is registered and again before every
//! delivery, and the delivery connects to the address that was checked
//! (a name that resolves elsewhere a second later gains nothing).
//!
//! In development (the local stack) `http` to a loopback address is also
//! allowed, so a receiver on `127.0.0.1` can be tried; private and
//! link-local addresses stay refused there too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

/// The longest endpoint URL, in bytes.
pub const URL_LEN_MAX: usize = 2048;
/// How long resolving a host may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    /// `https` to public addresses only.
    Production,
    /// Also `http` to loopback addresses (the local stack).
    Development,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("is not a URL: {0}")]
    NotAUrl(String),
    #[error("must be at most {URL_LEN_MAX} bytes")]
    TooLong,
    #[error("must use https{0}")]
    Scheme(&'static str),
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must name a host")]
    NoHost,
    #[error("host {host} does not resolve: {reason}")]
    DoesNotResolve { host: String, reason: String },
    #[error(
        "host {host} resolves to {address}, a {range} address: deliveries go to public addresses only"
    )]
    Forbidden {
        host: String,
        address: IpAddr,
        range: &'static str,
    },
}

/// A checked endpoint: the URL and the address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    pub host: String,
    pub address: SocketAddr,
}

/// Checks the URL's form (scheme, no credentials, a host) without
/// resolving it.
pub fn parse(url: &str, policy: UrlPolicy) -> Result<Url, AddressError> {
    if url.len() > URL_LEN_MAX {
        return Err(AddressError::TooLong);
    }
    let parsed = Url::parse(url).map_err(|e| AddressError::NotAUrl(e.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(AddressError::Credentials);
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(AddressError::NoHost);
    }
    match (parsed.scheme(), policy) {
        ("https", _) => Ok(parsed),
        ("http", UrlPolicy::Development) => Ok(parsed),
        (_, UrlPolicy::Development) => Err(AddressError::Scheme(
            " (or http to 127.0.0.1 in development)",
        )),
        (_, UrlPolicy::Production) => Err(AddressError::Scheme("")),
    }
}

/// Why an address may not be delivered to, if it may not: the name of its
/// range.
pub fn forbidden_range(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(a) => forbidden_v4(a),
        IpAddr::V6(a) => forbidden_v6(a),
    }
}

fn forbidden_v4(a: Ipv4Addr) -> Option<&'static str> {
    let [o1, o2, o3, _] = a.octets();
    Some(match () {
        _ if a.is_unspecified() || o1 == 0 => "this-network",
        _ if a.is_loopback() => "loopback",
        _ if a.is_private() => "private",
        _ if a.is_link_local() => "link-local",
        _ if o1 == 100 && (64..128).contains(&o2) => "shared (carrier-grade NAT)",
        _ if o1 == 192 && o2 == 0 && o3 == 0 => "protocol-assignment",
        _ if a.is_documentation() => "documentation",
        _ if o1 == 198 && (18..20).contains(&o2) => "benchmarking",
        _ if a.is_multicast() => "multicast",
        _ if a.is_broadcast() || o1 >= 240 => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(a: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = a.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = a.segments();
    Some(match () {
        _ if a.is_unspecified() => "unspecified",
        _ if a.is_loopback() => "loopback",
        _ if a.is_multicast() => "multicast",
        _ if (s[0] & 0xfe00) == 0xfc00 => "unique-local (private)",
        _ if (s[0] & 0xffc0) == 0xfe80 => "link-local",
        _ if s[0] == 0x2001 && s[1] == 0x0db8 => "documentation",
        // NAT64 and the IPv4-compatible form reach IPv4 addresses: judged
        // by the address they embed.
        _ if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] => {
            let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            return forbidden_v4(v4);
        }
        _ if s[0..6] == [0, 0, 0, 0, 0, 0] => "IPv4-compatible",
        _ => return None,
    })
}

fn allowed(address: IpAddr, policy: UrlPolicy) -> Result<(), &'static str> {
    match forbidden_range(address) {
        None => Ok(()),
        Some("loopback") if policy == UrlPolicy::Development => Ok(()),
        Some(range) => Err(range),
    }
}

/// Checks a URL and resolves its host: every address it resolves to must
/// be allowed (one bad address refuses the URL, so a name cannot mix a
/// public and a private answer), and the first is the one to connect to.
pub async fn resolve(url: &str, policy: UrlPolicy) -> Result<Target, AddressError> {
    let url = parse(url, policy)?;
    let host = url
        .host_str()
        .ok_or(AddressError::NoHost)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    if policy == UrlPolicy::Development
        && url.scheme() == "http"
        && !(host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback()))
    {
        return Err(AddressError::Scheme(
            " (http only to 127.0.0.1 in development)",
        ));
    }
    let lookup = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::net::lookup_host((host.clone(), port)),
    )
    .await;
    let addresses: Vec<SocketAddr> = match lookup {
        Err(_) => {
            return Err(AddressError::DoesNotResolve {
                host,
                reason: "timed out".into(),
            });
        }
        Ok(Err(e)) => {
            return Err(AddressError::DoesNotResolve {
                host,
                reason: e.to_string(),
            });
        }
        Ok(Ok(found)) => found.collect(),
    };
    for address in &addresses {
        allowed(address.ip(), policy).map_err(|range| AddressError::Forbidden {
            host: host.clone(),
            address: address.ip(),
            range,
        })?;
    }
    let address = *addresses
        .first()
        .ok_or_else(|| AddressError::DoesNotResolve {
            host: host.clone(),
            reason: "no addresses".into(),
        })?;
    Ok(Target { url, host, address })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_ranges_are_refused() {
        for (a, range) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "this-network"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("fd00::1", "unique-local (private)"),
            ("fe80::1", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
        ] {
            assert_eq!(forbidden_range(a.parse().unwrap()), Some(range), "{a}");
        }
        for a in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
        ] {
            assert_eq!(forbidden_range(a.parse().unwrap()), None, "{a}");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_host() {
        assert!(parse("https://hooks.example.com/ledger", UrlPolicy::Production).is_ok());
        assert_eq!(
            parse("http://hooks.example.com/", UrlPolicy::Production),
            Err(AddressError::Scheme(""))
        );
        assert_eq!(
            parse("https://user:pw@hooks.example.com/", UrlPolicy::Production),
            Err(AddressError::Credentials)
        );
        assert!(matches!(
            parse("not a url", UrlPolicy::Production),
            Err(AddressError::NotAUrl(_))
        ));
        assert!(parse("http://127.0.0.1:9/", UrlPolicy::Development).is_ok());
    }

    #[tokio::test]
    async fn resolving_refuses_loopback_in_production_and_allows_it_in_development() {
        let refused = resolve("https://127.0.0.1:8443/hook", UrlPolicy::Production).await;
        assert!(matches!(
            refused,
            Err(AddressError::Forbidden {
                range: "loopback",
                ..
            })
        ));
        let metadata = resolve("http://169.254.169.254/latest/", UrlPolicy::Development).await;
        assert!(
            matches!(metadata, Err(AddressError::Scheme(_))),
            "{metadata:?}"
        );
        let metadata = resolve("https://169.254.169.254/latest/", UrlPolicy::Development).await;
        assert!(matches!(
            metadata,
            Err(AddressError::Forbidden {
                range: "link-local",
                ..
            })
        ));
        let local = resolve("http://127.0.0.1:8080/hook", UrlPolicy::Development)
            .await
            .unwrap();
        assert_eq!(local.address, "127.0.0.1:8080".parse().unwrap());
        let private = resolve("https://10.0.0.7/hook", UrlPolicy::Development).await;
        assert!(matches!(
            private,
            Err(AddressError::Forbidden {
                range: "private",
                ..
            })
        ));
    }
}
