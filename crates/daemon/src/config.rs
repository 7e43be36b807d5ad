//! The daemon's configuration: TOML with an embedded default (`default.toml`), a file given
//! with `--config` merged over it key by key, then command-line flags (see `args`).
//!
//! Every error names the offending key (`tun.mtu`), so the daemon can print one line and exit 2.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::cidr::{Cidr, IfAddr};

/// The embedded default configuration.
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("config is not valid TOML (line {line}): {}", first_line(.source.message()))]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// The parser's error.
        source: toml::de::Error,
    },
    /// A key or section we do not know.
    #[error("config: unknown key `{key}`")]
    UnknownKey {
        /// The dotted key.
        key: String,
    },
    /// A known key with a value of the wrong type or out of range.
    #[error("config: `{key}` must be {expected}")]
    BadValue {
        /// The dotted key.
        key: &'static str,
        /// What was expected, for the operator.
        expected: &'static str,
    },
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// A tcpcrypt key-agreement scheme (TEP), RFC 8548 §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tep {
    /// TCP_CRYPT_ECDHE_X25519, TEP id 0x23.
    X25519,
    /// TCP_CRYPT_ECDHE_X448, TEP id 0x24.
    X448,
    /// TCP_CRYPT_ECDHE_P256, TEP id 0x21.
    P256,
    /// TCP_CRYPT_ECDHE_P521, TEP id 0x22.
    P521,
}

impl Tep {
    /// The TEP identifier byte (RFC 8548 §7).
    pub fn id(self) -> u8 {
        match self {
            Self::P256 => 0x21,
            Self::P521 => 0x22,
            Self::X25519 => 0x23,
            Self::X448 => 0x24,
        }
    }

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::X25519 => "x25519",
            Self::X448 => "x448",
            Self::P256 => "p256",
            Self::P521 => "p521",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::X25519, Self::X448, Self::P256, Self::P521]
            .into_iter()
            .find(|t| t.name() == s)
    }
}

/// A tcpcrypt AEAD algorithm, RFC 8548 §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aead {
    /// AEAD_AES_128_GCM, id 0x01.
    Aes128Gcm,
    /// AEAD_AES_256_GCM, id 0x02.
    Aes256Gcm,
    /// AEAD_CHACHA20_POLY1305, id 0x10.
    ChaCha20Poly1305,
}

impl Aead {
    /// The algorithm identifier (RFC 8548 §7).
    pub fn id(self) -> u8 {
        match self {
            Self::Aes128Gcm => 0x01,
            Self::Aes256Gcm => 0x02,
            Self::ChaCha20Poly1305 => 0x10,
        }
    }

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128Gcm => "aes-128-gcm",
            Self::Aes256Gcm => "aes-256-gcm",
            Self::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Aes128Gcm, Self::Aes256Gcm, Self::ChaCha20Poly1305]
            .into_iter()
            .find(|a| a.name() == s)
    }
}

/// `[tun]`: the TUN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name (1..=15 bytes, no `/`, whitespace or `:`).
    pub name: String,
    /// Interface MTU.
    pub mtu: u16,
    /// virtio-net header offloads (TSO/GSO on the device; batches per syscall).
    pub offload: bool,
}

/// `[addresses]`: the kernel side of the TUN device and the stack's own addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// Kernel-side IPv4 address with prefix (default 10.77.0.1/24).
    pub kernel_v4: IfAddr,
    /// The stack's IPv4 address, inside `kernel_v4`'s subnet (default 10.77.0.2).
    pub stack_v4: Ipv4Addr,
    /// Kernel-side IPv6 address with prefix (default fd77::1/64).
    pub kernel_v6: IfAddr,
    /// The stack's IPv6 address, inside `kernel_v6`'s subnet (default fd77::2).
    pub stack_v6: Ipv6Addr,
}

/// `[policy]`: which traffic goes through the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Routed subnets: opportunistic encryption, plaintext fallback.
    pub route: Vec<Cidr>,
    /// Routed subnets where plaintext is refused.
    pub require: Vec<Cidr>,
    /// Fronted local TCP ports.
    pub front: Vec<u16>,
}

/// `[crypto]`: what we offer, most preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Key-agreement schemes.
    pub tep: Vec<Tep>,
    /// AEAD algorithms.
    pub aead: Vec<Aead>,
    /// RFC 8548 §3.5 session resumption with peers seen before (in-memory cache only).
    pub resumption: bool,
}

/// `[kernel]`: routing tables and rule preferences of our own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelTables {
    /// Table holding the routed subnets.
    pub route_table: u32,
    /// Preference of `iif lo lookup route_table`.
    pub route_rule_pref: u32,
    /// Table with the default route into the TUN device for fronted services' replies.
    pub front_table: u32,
    /// Preference of `from <kernel address> lookup front_table`.
    pub front_rule_pref: u32,
}

/// The complete, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[tun]`.
    pub tun: TunConfig,
    /// `[addresses]`.
    pub addresses: Addresses,
    /// `[policy]`.
    pub policy: Policy,
    /// `[control] path`.
    pub control: PathBuf,
    /// `[crypto]`.
    pub crypto: Crypto,
    /// `[kernel]`.
    pub kernel: KernelTables,
}

/// Every key we know, `section.key`.
const KNOWN: &[&str] = &[
    "tun.name",
    "tun.mtu",
    "tun.offload",
    "addresses.kernel_v4",
    "addresses.stack_v4",
    "addresses.kernel_v6",
    "addresses.stack_v6",
    "policy.route",
    "policy.require",
    "policy.front",
    "control.path",
    "crypto.tep",
    "crypto.aead",
    "crypto.resumption",
    "kernel.route_table",
    "kernel.route_rule_pref",
    "kernel.front_table",
    "kernel.front_rule_pref",
];

fn parse_table(text: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|source| {
        let line = source
            .span()
            .and_then(|s| text.get(..s.start))
            .map_or(1, |before| before.matches('\n').count() + 1);
        ConfigError::Syntax { line, source }
    })
}

/// Merges `over` into `base`: tables recursively, any other value replaced.
fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn check_known(root: &Table) -> Result<(), ConfigError> {
    for (section, value) in root {
        let Value::Table(t) = value else {
            return Err(ConfigError::UnknownKey {
                key: section.clone(),
            });
        };
        for key in t.keys() {
            let full = format!("{section}.{key}");
            if !KNOWN.contains(&full.as_str()) {
                return Err(ConfigError::UnknownKey { key: full });
            }
        }
    }
    Ok(())
}

fn get<'a>(root: &'a Table, key: &'static str) -> Option<&'a Value> {
    let (section, k) = key.split_once('.')?;
    root.get(section)?.as_table()?.get(k)
}

fn bad(key: &'static str, expected: &'static str) -> ConfigError {
    ConfigError::BadValue { key, expected }
}

fn get_str<'a>(root: &'a Table, key: &'static str) -> Result<&'a str, ConfigError> {
    get(root, key)
        .and_then(Value::as_str)
        .ok_or(bad(key, "a string"))
}

fn get_bool(root: &Table, key: &'static str) -> Result<bool, ConfigError> {
    get(root, key)
        .and_then(Value::as_bool)
        .ok_or(bad(key, "true or false"))
}

fn get_int<T: TryFrom<i64>>(
    root: &Table,
    key: &'static str,
    range: std::ops::RangeInclusive<i64>,
    expected: &'static str,
) -> Result<T, ConfigError> {
    get(root, key)
        .and_then(Value::as_integer)
        .filter(|v| range.contains(v))
        .and_then(|v| T::try_from(v).ok())
        .ok_or(bad(key, expected))
}

fn get_list<'a>(
    root: &'a Table,
    key: &'static str,
    expected: &'static str,
) -> Result<&'a Vec<Value>, ConfigError> {
    get(root, key)
        .and_then(Value::as_array)
        .ok_or(bad(key, expected))
}

fn get_str_list<'a, T>(
    root: &'a Table,
    key: &'static str,
    expected: &'static str,
    parse: impl Fn(&'a str) -> Option<T>,
) -> Result<Vec<T>, ConfigError> {
    get_list(root, key, expected)?
        .iter()
        .map(|v| v.as_str().and_then(&parse).ok_or(bad(key, expected)))
        .collect()
}

/// Parses `text` as a complete configuration (all keys present), e.g. the embedded default.
fn from_table(root: &Table) -> Result<Config, ConfigError> {
    check_known(root)?;
    let tun = TunConfig {
        name: get_str(root, "tun.name")?.to_owned(),
        mtu: get_int(root, "tun.mtu", 1280..=65535, "an integer in 1280..=65535")?,
        offload: get_bool(root, "tun.offload")?,
    };
    let ifaddr = |key, fam_v6: bool, expected| -> Result<IfAddr, ConfigError> {
        get_str(root, key)?
            .parse::<IfAddr>()
            .ok()
            .filter(|a| a.addr.is_ipv6() == fam_v6)
            .ok_or(bad(key, expected))
    };
    let kernel_v4 = ifaddr("addresses.kernel_v4", false, "an IPv4 address/prefix")?;
    let kernel_v6 = ifaddr("addresses.kernel_v6", true, "an IPv6 address/prefix")?;
    let stack_v4: Ipv4Addr = get_str(root, "addresses.stack_v4")?
        .parse()
        .ok()
        .filter(|a| *a != kernel_v4.addr && kernel_v4.subnet().contains(IpAddr::V4(*a)))
        .ok_or(bad(
            "addresses.stack_v4",
            "an IPv4 address in kernel_v4's subnet, other than kernel_v4",
        ))?;
    let stack_v6: Ipv6Addr = get_str(root, "addresses.stack_v6")?
        .parse()
        .ok()
        .filter(|a| *a != kernel_v6.addr && kernel_v6.subnet().contains(IpAddr::V6(*a)))
        .ok_or(bad(
            "addresses.stack_v6",
            "an IPv6 address in kernel_v6's subnet, other than kernel_v6",
        ))?;
    let cidrs = |key| get_str_list(root, key, "a list of CIDR subnets", |s| s.parse().ok());
    let front: Vec<u16> = get_list(root, "policy.front", "a list of ports 1..=65535")?
        .iter()
        .map(|v| {
            v.as_integer()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .ok_or(bad("policy.front", "a list of ports 1..=65535"))
        })
        .collect::<Result<_, _>>()?;
    let policy = Policy {
        route: cidrs("policy.route")?,
        require: cidrs("policy.require")?,
        front,
    };
    let tep = get_str_list(
        root,
        "crypto.tep",
        "a non-empty list of x25519, x448, p256, p521",
        Tep::parse,
    )?;
    let aead = get_str_list(
        root,
        "crypto.aead",
        "a non-empty list of aes-128-gcm, aes-256-gcm, chacha20-poly1305",
        Aead::parse,
    )?;
    let control = PathBuf::from(get_str(root, "control.path")?);
    let table = "a table number in 1..=252 or 256..=4294967295";
    let table_range = 1..=i64::from(u32::MAX);
    let pref = "a rule preference in 1..=32765";
    let kernel = KernelTables {
        route_table: get_int(root, "kernel.route_table", table_range.clone(), table)?,
        route_rule_pref: get_int(root, "kernel.route_rule_pref", 1..=32765, pref)?,
        front_table: get_int(root, "kernel.front_table", table_range, table)?,
        front_rule_pref: get_int(root, "kernel.front_rule_pref", 1..=32765, pref)?,
    };
    let config = Config {
        tun,
        addresses: Addresses {
            kernel_v4,
            stack_v4,
            kernel_v6,
            stack_v6,
        },
        policy,
        control,
        crypto: Crypto {
            tep,
            aead,
            resumption: get_bool(root, "crypto.resumption")?,
        },
        kernel,
    };
    config.validate()?;
    Ok(config)
}

impl Config {
    /// The embedded default.
    pub fn embedded_default() -> Result<Self, ConfigError> {
        Self::from_text(None)
    }

    /// The embedded default with `overlay` (the text of a config file) merged over it.
    pub fn from_text(overlay: Option<&str>) -> Result<Self, ConfigError> {
        let mut root = parse_table(DEFAULT_TOML)?;
        if let Some(text) = overlay {
            merge(&mut root, parse_table(text)?);
        }
        from_table(&root)
    }

    /// The embedded default with the file at `path` (if any) merged over it.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match path {
            Some(p) => Some(
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?,
            ),
            None => None,
        };
        Self::from_text(text.as_deref())
    }

    /// Checks the invariants that span several keys; also run after flags are applied.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.tun.name;
        if name.is_empty()
            || name.len() > 15
            || name == "."
            || name == ".."
            || name
                .bytes()
                .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || !b.is_ascii())
        {
            return Err(bad(
                "tun.name",
                "an interface name of 1..=15 ASCII bytes without `/`, `:` or spaces",
            ));
        }
        let reserved = |t: u32| matches!(t, 0 | 253..=255);
        if reserved(self.kernel.route_table) {
            return Err(bad(
                "kernel.route_table",
                "a table number in 1..=252 or 256..=4294967295",
            ));
        }
        if reserved(self.kernel.front_table) || self.kernel.front_table == self.kernel.route_table {
            return Err(bad(
                "kernel.front_table",
                "a table number in 1..=252 or 256..=4294967295, other than route_table",
            ));
        }
        if self.kernel.front_rule_pref == self.kernel.route_rule_pref {
            return Err(bad(
                "kernel.front_rule_pref",
                "a rule preference other than route_rule_pref",
            ));
        }
        if self.crypto.tep.is_empty() || has_duplicates(&self.crypto.tep) {
            return Err(bad(
                "crypto.tep",
                "a non-empty list of x25519, x448, p256, p521 without repeats",
            ));
        }
        if self.crypto.aead.is_empty() || has_duplicates(&self.crypto.aead) {
            return Err(bad(
                "crypto.aead",
                "a non-empty list of aes-128-gcm, aes-256-gcm, chacha20-poly1305 without repeats",
            ));
        }
        if self.control.as_os_str().is_empty() {
            return Err(bad("control.path", "a non-empty path"));
        }
        Ok(())
    }

    /// All routed subnets: `route` then `require`, without repeats.
    pub fn routed(&self) -> Vec<Cidr> {
        let mut seen = BTreeSet::new();
        self.policy
            .route
            .iter()
            .chain(&self.policy.require)
            .filter(|c| seen.insert(c.to_string()))
            .copied()
            .collect()
    }
}

fn has_duplicates<T: Ord>(items: &[T]) -> bool {
    let set: BTreeSet<&T> = items.iter().collect();
    set.len() != items.len()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn embedded_default_has_the_documented_values() {
        let c = Config::embedded_default().unwrap();
        assert_eq!(c.tun.name, "tcpc0");
        assert_eq!(c.addresses.kernel_v4.to_string(), "10.77.0.1/24");
        assert_eq!(c.addresses.stack_v4, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(c.addresses.kernel_v6.to_string(), "fd77::1/64");
        assert_eq!(c.addresses.stack_v6.to_string(), "fd77::2");
        assert_eq!(c.control, PathBuf::from("/run/tcpcrypt/control.sock"));
        assert_eq!(c.crypto.tep.first().map(|t| t.id()), Some(0x23));
        assert_eq!(
            c.crypto.aead,
            vec![Aead::Aes128Gcm, Aead::Aes256Gcm, Aead::ChaCha20Poly1305]
        );
        assert!(c.policy.route.is_empty() && c.policy.require.is_empty());
        assert!(c.policy.front.is_empty());
        assert_ne!(c.kernel.route_table, c.kernel.front_table);
        assert!(c.tun.offload);
        assert!(!c.crypto.resumption);
    }

    #[test]
    fn file_overrides_only_the_keys_it_sets() {
        let c = Config::from_text(Some(
            "[policy]\nroute = [\"192.0.2.0/24\", \"2001:db8::/32\"]\nfront = [8080]\n\
             [crypto]\ntep = [\"p256\", \"x25519\"]\n[tun]\nmtu = 9000\n",
        ))
        .unwrap();
        assert_eq!(c.tun.name, "tcpc0");
        assert_eq!(c.tun.mtu, 9000);
        assert_eq!(c.policy.route.len(), 2);
        assert!(c.policy.route.get(1).unwrap().is_v6());
        assert_eq!(c.policy.front, vec![8080]);
        assert_eq!(c.crypto.tep, vec![Tep::P256, Tep::X25519]);
        assert_eq!(c.crypto.aead.len(), 3);
    }

    fn bad_key(text: &str) -> String {
        match Config::from_text(Some(text)) {
            Err(ConfigError::BadValue { key, .. }) => key.to_owned(),
            Err(ConfigError::UnknownKey { key }) => format!("unknown:{key}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(bad_key("[tun]\nmtu = \"big\""), "tun.mtu");
        assert_eq!(bad_key("[tun]\nmtu = 100"), "tun.mtu");
        assert_eq!(bad_key("[tun]\noffload = 1"), "tun.offload");
        assert_eq!(
            bad_key("[crypto]\nresumption = \"yes\""),
            "crypto.resumption"
        );
        assert_eq!(bad_key("[tun]\nname = \"a/b\""), "tun.name");
        assert_eq!(bad_key("[tun]\nname = \"sixteen-bytes-xx\""), "tun.name");
        assert_eq!(
            bad_key("[policy]\nroute = [\"10.0.0.1/8\"]"),
            "policy.route"
        );
        assert_eq!(
            bad_key("[policy]\nrequire = \"10.0.0.0/8\""),
            "policy.require"
        );
        assert_eq!(bad_key("[policy]\nfront = [0]"), "policy.front");
        assert_eq!(bad_key("[policy]\nfront = [70000]"), "policy.front");
        assert_eq!(bad_key("[crypto]\ntep = [\"rsa\"]"), "crypto.tep");
        assert_eq!(bad_key("[crypto]\ntep = []"), "crypto.tep");
        assert_eq!(
            bad_key("[crypto]\naead = [\"aes-128-gcm\", \"aes-128-gcm\"]"),
            "crypto.aead"
        );
        assert_eq!(
            bad_key("[addresses]\nstack_v4 = \"10.78.0.2\""),
            "addresses.stack_v4"
        );
        assert_eq!(
            bad_key("[addresses]\nkernel_v6 = \"10.0.0.1/8\""),
            "addresses.kernel_v6"
        );
        assert_eq!(bad_key("[kernel]\nroute_table = 254"), "kernel.route_table");
        assert_eq!(
            bad_key("[kernel]\nfront_table = 7701"),
            "kernel.front_table"
        );
        assert_eq!(
            bad_key("[kernel]\nroute_rule_pref = 40000"),
            "kernel.route_rule_pref"
        );
        assert_eq!(bad_key("[tun]\ncolour = 1"), "unknown:tun.colour");
        assert_eq!(bad_key("[extra]\nx = 1"), "unknown:extra.x");
        assert_eq!(bad_key("top = 1"), "unknown:top");
    }

    #[test]
    fn garbage_is_a_syntax_error_with_a_line() {
        match Config::from_text(Some("[tun]\nname = \"x\"\n}}} not toml")) {
            Err(e @ ConfigError::Syntax { line: 3, .. }) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{msg}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn routed_is_route_then_require_without_repeats() {
        let c = Config::from_text(Some(
            "[policy]\nroute = [\"192.0.2.0/24\"]\nrequire = [\"198.51.100.0/24\", \"192.0.2.0/24\"]",
        ))
        .unwrap();
        let r: Vec<String> = c.routed().iter().map(ToString::to_string).collect();
        assert_eq!(r, ["192.0.2.0/24", "198.51.100.0/24"]);
    }
}
