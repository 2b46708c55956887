//! Community ID, version 1 (Corelight's community-id-spec): a flow hash that
//! Zeek, Suricata, Arkime and Elastic compute from the same 5-tuple, so a
//! synack record joins their logs by one string.
//!
//! The hash is SHA-1 over: the seed (2 bytes, big-endian), the two
//! addresses, the IP protocol, one zero byte of padding and the two ports,
//! with the endpoints ordered so that the smaller (address, port) comes
//! first, which makes both directions of a flow hash alike. The result is
//! `"1:"` and the base64 of the digest.

use base64::Engine;
use std::net::{IpAddr, SocketAddr};

/// The IP protocol number of TCP.
const TCP: u8 = 6;

/// A Community ID string, `1:` and 28 characters of base64, kept inline
/// (a record's JSON is written without allocating it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommunityId([u8; 30]);

impl CommunityId {
    /// The string's bytes: ASCII, nothing a JSON string must escape.
    pub fn as_bytes(&self) -> &[u8; 30] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written into it.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::fmt::Display for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// The Community ID of a TCP flow between `a` and `b` with `seed` (0 is
/// every tool's default). None when the two addresses are of different
/// IP versions, which no flow has.
pub fn tcp(a: SocketAddr, b: SocketAddr, seed: u16) -> Option<CommunityId> {
    let (mut a_ip, mut b_ip) = ([0u8; 16], [0u8; 16]);
    let len = match (a.ip(), b.ip()) {
        (IpAddr::V4(x), IpAddr::V4(y)) => {
            a_ip[..4].copy_from_slice(&x.octets());
            b_ip[..4].copy_from_slice(&y.octets());
            4
        }
        (IpAddr::V6(x), IpAddr::V6(y)) => {
            a_ip = x.octets();
            b_ip = y.octets();
            16
        }
        _ => return None,
    };
    let (a_ip, b_ip) = (&a_ip[..len], &b_ip[..len]);
    let ((src, src_port), (dst, dst_port)) = if (a_ip, a.port()) <= (b_ip, b.port()) {
        ((a_ip, a.port()), (b_ip, b.port()))
    } else {
        ((b_ip, b.port()), (a_ip, a.port()))
    };
    let mut hash = sha1_smol::Sha1::new();
    hash.update(&seed.to_be_bytes());
    hash.update(src);
    hash.update(dst);
    hash.update(&[TCP, 0]);
    hash.update(&src_port.to_be_bytes());
    hash.update(&dst_port.to_be_bytes());
    let mut id = [0u8; 30];
    id[..2].copy_from_slice(b"1:");
    // 20 bytes of digest are exactly 28 characters of padded base64.
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(hash.digest().bytes(), &mut id[2..])
        .ok()?;
    (written == 28).then_some(CommunityId(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(a: &str, b: &str) -> String {
        tcp(a.parse().unwrap(), b.parse().unwrap(), 0)
            .unwrap()
            .to_string()
    }

    /// The TCP vectors of the spec's reference implementations.
    #[test]
    fn matches_the_reference_vectors_both_ways() {
        for (a, b, want) in [
            (
                "128.232.110.120:34855",
                "66.35.250.204:80",
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            ),
            (
                "[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943",
                "[2607:f8b0:400c:c03::1a]:25",
                "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
            ),
        ] {
            assert_eq!(id(a, b), want);
            assert_eq!(id(b, a), want);
        }
    }

    #[test]
    fn the_seed_and_the_ports_change_it_mixed_versions_have_none() {
        let (a, b) = (
            "10.0.0.1:1000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        assert_ne!(tcp(a, b, 0), tcp(a, b, 1));
        assert_ne!(
            id("10.0.0.1:1000", "10.0.0.2:80"),
            id("10.0.0.1:1001", "10.0.0.2:80")
        );
        assert_eq!(tcp(a, "[::1]:80".parse().unwrap(), 0), None);
    }
}
