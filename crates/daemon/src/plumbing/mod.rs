//! Kernel plumbing around the TUN device (DESIGN.md, "Kernel plumbing"): addresses, link
//! state, routes and policy rules, sysctls, and our nftables table. One method per step;
//! every change pushes its undo step, and [`Plumbing::teardown`] (also run on drop, so on an
//! error half-way through [`setup`]) undoes them in reverse. Before anything is added,
//! [`remove_leftovers`] clears what a crashed previous run left (our rules by preference, our
//! tables' routes, our nft table).
//!
//! Links, addresses, routes and rules are changed with iproute2's `ip` for now (the netlink
//! crate is a later step); nftables through `nft -f -`. Sysctls are written under
//! `/proc/sys` directly.

pub mod nft;
pub mod preflight;

use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;
use std::process::{Command, Stdio};

use crate::cidr::{Cidr, IfAddr};
use crate::config::{Config, KernelTables};

/// A setup step, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Assigning an address to the TUN device.
    AddAddress,
    /// Setting the TUN device's MTU and bringing it up.
    LinkUp,
    /// Adding a route to one of our tables.
    AddRoute,
    /// Adding a policy rule.
    AddRule,
    /// Writing a sysctl.
    Sysctl,
    /// Loading our nftables table.
    Nftables,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AddAddress => "adding an address to the TUN device",
            Self::LinkUp => "bringing the TUN device up",
            Self::AddRoute => "adding a route",
            Self::AddRule => "adding a policy rule",
            Self::Sysctl => "setting a sysctl",
            Self::Nftables => "loading the nftables table",
        })
    }
}

/// Why one plumbing operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PlumbError {
    /// The program could not be started (not installed?).
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// `ip` or `nft`.
        program: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("`{cmd}` failed: {stderr}")]
    Failed {
        /// The command line.
        cmd: String,
        /// First line of its standard error.
        stderr: String,
    },
    /// A `/proc/sys` file could not be read or written.
    #[error("{path}: {source}")]
    Sysctl {
        /// The file.
        path: String,
        /// The OS error.
        source: io::Error,
    },
}

/// A failed setup step.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct SetupError {
    /// Which step.
    pub step: Step,
    /// What went wrong.
    #[source]
    pub source: PlumbError,
}

fn family(v6: bool) -> &'static str {
    if v6 {
        "-6"
    } else {
        "-4"
    }
}

/// Runs `program args`, feeding `stdin` if given; a non-zero exit is an error.
fn run(program: &'static str, args: &[String], stdin: Option<&str>) -> Result<(), PlumbError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|source| PlumbError::Spawn { program, source })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| PlumbError::Spawn { program, source })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| PlumbError::Spawn { program, source })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(PlumbError::Failed {
        cmd: format!("{program} {}", args.join(" ")),
        stderr: stderr.lines().next().unwrap_or("").trim().to_owned(),
    })
}

fn ip(args: &[String]) -> Result<(), PlumbError> {
    run("ip", args, None)
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

fn sysctl_path(key: &[&str]) -> String {
    format!("/proc/sys/{}", key.join("/"))
}

/// One undo step.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Undo {
    /// Run `ip` with these arguments.
    Ip(Vec<String>),
    /// Write the old value back.
    Sysctl { path: String, old: String },
    /// Delete our nft table.
    NftTable,
}

/// The changes made so far, undone in reverse by [`Plumbing::teardown`] or on drop.
#[derive(Debug)]
pub struct Plumbing {
    undo: Vec<Undo>,
    tables: KernelTables,
}

impl Plumbing {
    /// Nothing changed yet; `tables` are swept once more at teardown.
    pub fn new(tables: KernelTables) -> Self {
        Self {
            undo: Vec::new(),
            tables,
        }
    }

    /// `ip addr add ADDR dev DEV` (IPv6 with `nodad`).
    pub fn add_address(&mut self, dev: &str, addr: IfAddr) -> Result<(), SetupError> {
        let a = addr.to_string();
        let v6 = addr.addr.is_ipv6();
        let mut add = args(&[family(v6), "addr", "add", &a, "dev", dev]);
        if v6 {
            add.push("nodad".into());
        }
        ip(&add).map_err(|source| SetupError {
            step: Step::AddAddress,
            source,
        })?;
        self.undo
            .push(Undo::Ip(args(&[family(v6), "addr", "del", &a, "dev", dev])));
        Ok(())
    }

    /// `ip link set dev DEV mtu MTU up`.
    pub fn link_up(&mut self, dev: &str, mtu: u16) -> Result<(), SetupError> {
        ip(&args(&[
            "link",
            "set",
            "dev",
            dev,
            "mtu",
            &mtu.to_string(),
            "up",
        ]))
        .map_err(|source| SetupError {
            step: Step::LinkUp,
            source,
        })?;
        self.undo
            .push(Undo::Ip(args(&["link", "set", "dev", dev, "down"])));
        Ok(())
    }

    /// `ip route add DEST dev DEV table T`; `dest = None` is the default route of the family.
    pub fn add_route(
        &mut self,
        dev: &str,
        dest: Option<Cidr>,
        v6: bool,
        table: u32,
    ) -> Result<(), SetupError> {
        let d = dest.map_or_else(|| "default".to_owned(), |c| c.to_string());
        let t = table.to_string();
        ip(&args(&[
            family(v6),
            "route",
            "add",
            &d,
            "dev",
            dev,
            "table",
            &t,
        ]))
        .map_err(|source| SetupError {
            step: Step::AddRoute,
            source,
        })?;
        self.undo.push(Undo::Ip(args(&[
            family(v6),
            "route",
            "del",
            &d,
            "dev",
            dev,
            "table",
            &t,
        ])));
        Ok(())
    }

    /// `ip rule add SELECTOR lookup T pref P`; `from = None` selects `iif lo`.
    pub fn add_rule(
        &mut self,
        from: Option<IpAddr>,
        v6: bool,
        table: u32,
        pref: u32,
    ) -> Result<(), SetupError> {
        let sel = match from {
            Some(a) => vec!["from".to_owned(), a.to_string()],
            None => args(&["iif", "lo"]),
        };
        let tail = args(&["lookup", &table.to_string(), "pref", &pref.to_string()]);
        let mut add = args(&[family(v6), "rule", "add"]);
        add.extend(sel.iter().cloned());
        add.extend(tail.iter().cloned());
        ip(&add).map_err(|source| SetupError {
            step: Step::AddRule,
            source,
        })?;
        let mut del = args(&[family(v6), "rule", "del"]);
        del.extend(sel);
        del.extend(tail);
        self.undo.push(Undo::Ip(del));
        Ok(())
    }

    /// Writes `value` to the sysctl whose path components are `key`
    /// (`["net", "ipv4", "ip_forward"]`; an interface name may contain dots), remembering the
    /// old value.
    pub fn set_sysctl(&mut self, key: &[&str], value: &str) -> Result<(), SetupError> {
        let path = sysctl_path(key);
        let err = |source| SetupError {
            step: Step::Sysctl,
            source: PlumbError::Sysctl {
                path: path.clone(),
                source,
            },
        };
        let old = std::fs::read_to_string(&path).map_err(err)?;
        let old = old.trim().to_owned();
        if old != value {
            std::fs::write(&path, value).map_err(err)?;
            self.undo.push(Undo::Sysctl { path, old });
        }
        Ok(())
    }

    /// Loads an nftables ruleset that creates our table.
    pub fn load_nft(&mut self, ruleset: &str) -> Result<(), SetupError> {
        self.undo.push(Undo::NftTable);
        run("nft", &args(&["-f", "-"]), Some(ruleset)).map_err(|source| SetupError {
            step: Step::Nftables,
            source,
        })
    }

    /// Undoes every change in reverse order, then sweeps our rules, tables and nft table
    /// once more. Failures are logged, never fatal. Idempotent.
    pub fn teardown(&mut self) {
        if self.undo.is_empty() {
            return;
        }
        while let Some(u) = self.undo.pop() {
            let result = match &u {
                Undo::Ip(a) => ip(a),
                Undo::Sysctl { path, old } => {
                    std::fs::write(path, old).map_err(|source| PlumbError::Sysctl {
                        path: path.clone(),
                        source,
                    })
                }
                Undo::NftTable => run("nft", &args(&["delete", "table", nft::TABLE]), None),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "undo step failed");
            }
        }
        remove_leftovers(&self.tables);
        tracing::info!("kernel plumbing removed");
    }
}

impl Drop for Plumbing {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Removes what a previous run may have left: rules with our preferences, routes in our
/// tables, our nft table. Errors (nothing to remove) are ignored.
pub fn remove_leftovers(tables: &KernelTables) {
    for v6 in [false, true] {
        for pref in [tables.route_rule_pref, tables.front_rule_pref] {
            // A crash can leave one rule per start; bounded.
            for _ in 0..16 {
                if ip(&args(&[
                    family(v6),
                    "rule",
                    "del",
                    "pref",
                    &pref.to_string(),
                ]))
                .is_err()
                {
                    break;
                }
            }
        }
        for table in [tables.route_table, tables.front_table] {
            let _ = ip(&args(&[
                family(v6),
                "route",
                "flush",
                "table",
                &table.to_string(),
            ]));
        }
    }
    let _ = run("nft", &args(&["delete", "table", nft::TABLE]), None);
}

/// Performs every step for `config` on the (already open) TUN device `config.tun.name`.
/// On error the steps done so far are undone before returning.
pub fn setup(config: &Config) -> Result<Plumbing, SetupError> {
    let dev = config.tun.name.as_str();
    let k = config.kernel;
    let a = config.addresses;
    remove_leftovers(&k);
    let mut p = Plumbing::new(k);
    p.set_sysctl(&["net", "ipv6", "conf", dev, "disable_ipv6"], "0")?;
    // Up before the addresses, so the undo steps delete the addresses before the link goes
    // down (which would drop the IPv6 ones by itself).
    p.link_up(dev, config.tun.mtu)?;
    p.add_address(dev, a.kernel_v4)?;
    p.add_address(dev, a.kernel_v6)?;
    p.set_sysctl(&["net", "ipv4", "conf", dev, "rp_filter"], "2")?;
    p.set_sysctl(&["net", "ipv4", "ip_forward"], "1")?;
    p.set_sysctl(&["net", "ipv6", "conf", "all", "forwarding"], "1")?;
    for cidr in config.routed() {
        p.add_route(dev, Some(cidr), cidr.is_v6(), k.route_table)?;
    }
    for v6 in [false, true] {
        p.add_rule(None, v6, k.route_table, k.route_rule_pref)?;
    }
    if !config.policy.front.is_empty() {
        for (v6, from) in [(false, a.kernel_v4.addr), (true, a.kernel_v6.addr)] {
            p.add_route(dev, None, v6, k.front_table)?;
            p.add_rule(Some(from), v6, k.front_table, k.front_rule_pref)?;
        }
    }
    p.load_nft(&nft::ruleset(&nft::NftParams {
        tun: dev,
        stack_v4: a.stack_v4,
        stack_v6: a.stack_v6,
        front: &config.policy.front,
    }))?;
    tracing::info!(
        tun = dev,
        routed = config.routed().len(),
        front = config.policy.front.len(),
        "kernel plumbing in place"
    );
    Ok(p)
}
