//! Kernel plumbing around the TUN device (DESIGN.md, "Kernel plumbing"): addresses, link
//! state, routes and policy rules, sysctls, and our nftables table. One method per step;
//! every change pushes its undo step, and [`Plumbing::teardown`] (also run on drop, so on an
//! error half-way through [`setup`]) undoes them in reverse. Before anything is added,
//! [`remove_leftovers`] clears what a crashed previous run left (our rules by preference, our
//! tables' routes, our nft table).
//!
//! Links, addresses, routes and rules are changed over rtnetlink ([`netlink`]); nftables
//! through `nft -f -` ([`nft`]). Sysctls are written under `/proc/sys` directly.

pub mod netlink;
pub mod nft;
pub mod preflight;

use std::fmt;
use std::io::{self, Write};
use std::process::{Command, Stdio};

use crate::cidr::{Cidr, IfAddr};
use crate::config::{Config, KernelTables};
use netlink::{Netlink, NetlinkError, RuleSelector};

/// A setup step, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Opening the rtnetlink socket or finding the TUN device's index.
    Netlink,
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
            Self::Netlink => "talking to rtnetlink",
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
    /// An rtnetlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        /// The object, e.g. `route 192.0.2.0/24 table 7701`.
        what: String,
        /// The kernel's answer.
        source: NetlinkError,
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

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

fn sysctl_path(key: &[&str]) -> String {
    format!("/proc/sys/{}", key.join("/"))
}

/// One undo step.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Undo {
    /// Set the link down.
    LinkDown { index: u32 },
    /// Delete an address.
    Address { index: u32, addr: IfAddr },
    /// Delete a route.
    Route {
        index: u32,
        dest: Option<Cidr>,
        v6: bool,
        table: u32,
    },
    /// Delete a rule.
    Rule {
        v6: bool,
        selector: RuleSelector,
        table: u32,
        pref: u32,
    },
    /// Write the old value back.
    Sysctl { path: String, old: String },
    /// Delete our nft table.
    NftTable,
}

/// The changes made so far, undone in reverse by [`Plumbing::teardown`] or on drop.
#[derive(Debug)]
pub struct Plumbing {
    nl: Netlink,
    undo: Vec<Undo>,
    tables: KernelTables,
}

fn nl_err(step: Step, what: String) -> impl FnOnce(NetlinkError) -> SetupError {
    move |source| SetupError {
        step,
        source: PlumbError::Netlink { what, source },
    }
}

fn fam(v6: bool) -> &'static str {
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

impl Plumbing {
    /// Opens an rtnetlink socket; `tables` are swept once more at teardown.
    pub fn new(tables: KernelTables) -> Result<Self, SetupError> {
        let nl = Netlink::open().map_err(nl_err(Step::Netlink, "open socket".into()))?;
        Ok(Self {
            nl,
            undo: Vec::new(),
            tables,
        })
    }

    /// The index of interface `dev`.
    pub fn link_index(&mut self, dev: &str) -> Result<u32, SetupError> {
        self.nl
            .link_index(dev)
            .map_err(nl_err(Step::Netlink, format!("find interface {dev}")))
    }

    /// `ip addr add ADDR dev INDEX` (IPv6 with `nodad`).
    pub fn add_address(&mut self, index: u32, addr: IfAddr) -> Result<(), SetupError> {
        self.nl
            .address(true, index, addr)
            .map_err(nl_err(Step::AddAddress, format!("address {addr}")))?;
        self.undo.push(Undo::Address { index, addr });
        Ok(())
    }

    /// `ip link set dev INDEX mtu MTU up`.
    pub fn link_up(&mut self, index: u32, mtu: u16) -> Result<(), SetupError> {
        self.nl
            .set_link(index, Some(mtu), true)
            .map_err(nl_err(Step::LinkUp, format!("mtu {mtu} up")))?;
        self.undo.push(Undo::LinkDown { index });
        Ok(())
    }

    /// `ip route add DEST dev INDEX table T`; `dest = None` is the default route of the family.
    pub fn add_route(
        &mut self,
        index: u32,
        dest: Option<Cidr>,
        v6: bool,
        table: u32,
    ) -> Result<(), SetupError> {
        let d = dest.map_or_else(|| format!("{} default", fam(v6)), |c| c.to_string());
        self.nl
            .route(true, index, dest, v6, table)
            .map_err(nl_err(Step::AddRoute, format!("route {d} table {table}")))?;
        self.undo.push(Undo::Route {
            index,
            dest,
            v6,
            table,
        });
        Ok(())
    }

    /// `ip rule add SELECTOR lookup T pref P`.
    pub fn add_rule(
        &mut self,
        selector: RuleSelector,
        v6: bool,
        table: u32,
        pref: u32,
    ) -> Result<(), SetupError> {
        self.nl
            .rule(true, v6, selector, table, pref)
            .map_err(nl_err(
                Step::AddRule,
                format!("{} rule pref {pref} lookup {table}", fam(v6)),
            ))?;
        self.undo.push(Undo::Rule {
            v6,
            selector,
            table,
            pref,
        });
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
            let result = match u {
                Undo::LinkDown { index } => {
                    self.nl
                        .set_link(index, None, false)
                        .map_err(|source| PlumbError::Netlink {
                            what: "link down".into(),
                            source,
                        })
                }
                Undo::Address { index, addr } => {
                    self.nl
                        .address(false, index, addr)
                        .map_err(|source| PlumbError::Netlink {
                            what: format!("delete address {addr}"),
                            source,
                        })
                }
                Undo::Route {
                    index,
                    dest,
                    v6,
                    table,
                } => self
                    .nl
                    .route(false, index, dest, v6, table)
                    .map_err(|source| PlumbError::Netlink {
                        what: format!("delete route in table {table}"),
                        source,
                    }),
                Undo::Rule {
                    v6,
                    selector,
                    table,
                    pref,
                } => self
                    .nl
                    .rule(false, v6, selector, table, pref)
                    .map_err(|source| PlumbError::Netlink {
                        what: format!("delete rule pref {pref}"),
                        source,
                    }),
                Undo::Sysctl { path, old } => {
                    std::fs::write(&path, old).map_err(|source| PlumbError::Sysctl { path, source })
                }
                Undo::NftTable => run("nft", &args(&["delete", "table", nft::TABLE]), None),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "undo step failed");
            }
        }
        remove_leftovers(&mut self.nl, &self.tables);
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
pub fn remove_leftovers(nl: &mut Netlink, tables: &KernelTables) {
    for v6 in [false, true] {
        for pref in [tables.route_rule_pref, tables.front_rule_pref] {
            // A crash leaves at most a few rules per preference; bounded.
            for _ in 0..16 {
                if nl.delete_rule_pref(v6, pref).is_err() {
                    break;
                }
            }
        }
        for table in [tables.route_table, tables.front_table] {
            if let Err(e) = nl.flush_table(v6, table) {
                tracing::debug!(error = %e, table, "flushing table failed");
            }
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
    let mut p = Plumbing::new(k)?;
    remove_leftovers(&mut p.nl, &k);
    let index = p.link_index(dev)?;
    p.set_sysctl(&["net", "ipv6", "conf", dev, "disable_ipv6"], "0")?;
    // Up before the addresses, so the undo steps delete the addresses before the link goes
    // down (which would drop the IPv6 ones by itself).
    p.link_up(index, config.tun.mtu)?;
    p.add_address(index, a.kernel_v4)?;
    p.add_address(index, a.kernel_v6)?;
    p.set_sysctl(&["net", "ipv4", "conf", dev, "rp_filter"], "2")?;
    p.set_sysctl(&["net", "ipv4", "ip_forward"], "1")?;
    p.set_sysctl(&["net", "ipv6", "conf", "all", "forwarding"], "1")?;
    for cidr in config.routed() {
        p.add_route(index, Some(cidr), cidr.is_v6(), k.route_table)?;
    }
    for v6 in [false, true] {
        p.add_rule(RuleSelector::IifLo, v6, k.route_table, k.route_rule_pref)?;
    }
    if !config.policy.front.is_empty() {
        for (v6, from) in [(false, a.kernel_v4.addr), (true, a.kernel_v6.addr)] {
            p.add_route(index, None, v6, k.front_table)?;
            p.add_rule(
                RuleSelector::From(from),
                v6,
                k.front_table,
                k.front_rule_pref,
            )?;
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
