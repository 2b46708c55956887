//! The SYN-flood defences a drill compares, each set up in the lab's
//! server namespace only: SYN cookies (`tcp_syncookies` 0, 1, 2), SYNPROXY
//! (nftables: the SYN answered by netfilter with a cookie, the server
//! seeing only completed handshakes), a per-source SYN rate limit, a
//! connection limit per source, and a larger backlog (listen() backlog,
//! somaxconn and tcp_max_syn_backlog at 65535). Every defence but the
//! cookie settings runs with cookies off, so that its own effect shows.

use crate::error::LabError;
use crate::lab::{Lab, Side};
use synack_host::harden::Rules;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defence {
    None,
    Cookies,
    CookiesAlways,
    Synproxy,
    SourceRateLimit,
    SourceConnLimit,
    Backlog,
}

/// The nftables table a drill installs (removed with the namespace).
pub const TABLE: &str = "synack_drill";

impl Defence {
    pub const ALL: [Defence; 7] = [
        Defence::None,
        Defence::Cookies,
        Defence::CookiesAlways,
        Defence::Synproxy,
        Defence::SourceRateLimit,
        Defence::SourceConnLimit,
        Defence::Backlog,
    ];

    /// The name on the command line and in JSON.
    pub fn key(self) -> &'static str {
        match self {
            Defence::None => "none",
            Defence::Cookies => "cookies",
            Defence::CookiesAlways => "cookies2",
            Defence::Synproxy => "synproxy",
            Defence::SourceRateLimit => "hashlimit",
            Defence::SourceConnLimit => "connlimit",
            Defence::Backlog => "backlog",
        }
    }

    pub fn parse(name: &str) -> Result<Defence, String> {
        Defence::ALL
            .into_iter()
            .find(|d| d.key() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Defence::ALL.iter().map(|d| d.key()).collect();
                format!("no defence {name:?}: one of {}", names.join(", "))
            })
    }

    /// What it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Defence::None => "tcp_syncookies=0, backlog 128",
            Defence::Cookies => "tcp_syncookies=1 (cookies when a SYN queue is full)",
            Defence::CookiesAlways => "tcp_syncookies=2 (cookies for every SYN)",
            Defence::Synproxy => "nftables SYNPROXY on the port (with tcp_syncookies=1)",
            Defence::SourceRateLimit => "at most 5 SYNs/s per source (burst 10), cookies off",
            Defence::SourceConnLimit => "at most 10 connections per source, cookies off",
            Defence::Backlog => "backlog, somaxconn and tcp_max_syn_backlog 65535, cookies off",
        }
    }

    /// The listen() backlog the drill's server uses under this defence.
    pub fn backlog(self) -> i32 {
        match self {
            Defence::Backlog => 65_535,
            _ => 128,
        }
    }

    /// The nftables rules, for `nft -f` (None: no rules): the rules
    /// `synack harden` recommends, one kind at a time.
    pub fn ruleset(self, port: u16) -> Option<String> {
        let none = Rules {
            ports: vec![port],
            syn_rate_per_source: None,
            connections_per_source: None,
            synproxy: false,
        };
        let rules = match self {
            Defence::Synproxy => Rules {
                synproxy: true,
                ..none
            },
            Defence::SourceRateLimit => Rules {
                syn_rate_per_source: Some((5, 10)),
                ..none
            },
            Defence::SourceConnLimit => Rules {
                connections_per_source: Some(10),
                ..none
            },
            _ => return None,
        };
        Some(rules.table(TABLE))
    }

    /// Sets it up in the server namespace (after whatever an earlier
    /// defence left is removed: the sysctls are set again, the table
    /// deleted).
    pub fn apply(self, lab: &Lab, port: u16) -> Result<(), LabError> {
        let cookies = match self {
            Defence::Cookies | Defence::Synproxy => "1",
            Defence::CookiesAlways => "2",
            _ => "0",
        };
        let big = matches!(self, Defence::Backlog);
        for (key, value) in [
            ("net.ipv4.tcp_syncookies", cookies),
            ("net.core.somaxconn", if big { "65535" } else { "4096" }),
            (
                "net.ipv4.tcp_max_syn_backlog",
                if big { "65535" } else { "128" },
            ),
            ("net.ipv4.tcp_timestamps", "1"),
        ] {
            lab.sysctl(Side::Server, key, value)?;
        }
        let _ = lab
            .server
            .command("nft")
            .args(["delete", "table", "inet", TABLE])
            .output();
        if self == Defence::Synproxy {
            // SYNPROXY hands the handshake over only when conntrack does
            // not pick connections up mid-stream.
            lab.sysctl(Side::Server, "net.netfilter.nf_conntrack_tcp_loose", "0")?;
        }
        let Some(rules) = self.ruleset(port) else {
            return Ok(());
        };
        let mut child = lab
            .server
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| LabError::io("running nft (apt-get install nftables)", e))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin
                .write_all(rules.as_bytes())
                .map_err(|e| LabError::io("writing the nft rules", e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| LabError::io("running nft", e))?;
        if !out.status.success() {
            return Err(LabError::io(
                format!("installing the {} rules with nft", self.key()),
                std::io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()),
            ));
        }
        Ok(())
    }
}
