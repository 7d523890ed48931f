//! Helpers shared by the test binaries: hex literals with comments, and fixtures.

#![allow(dead_code, unreachable_pub)]

use std::net::IpAddr;

use pulse_ipvs::{
    Dest, DestKey, Family, Forward, Netmask, Protocol, Request, Service, ServiceFlags, ServiceKey,
    encode,
};

/// The family id the IPVS family got in the test VM (`docs/reference/testbed.md` §4); any value works.
pub const FAMILY: u16 = 0x20;

/// Bytes from a hex literal: `//` starts a comment to the end of the line, whitespace is
/// ignored, anything else that is not a hex digit is a mistake in the literal.
pub fn hex(literal: &str) -> Vec<u8> {
    let mut digits = Vec::new();
    for line in literal.lines() {
        let code = line.split("//").next().unwrap_or("");
        for c in code.chars() {
            if let Some(d) = c.to_digit(16) {
                digits.push(d as u8);
            } else {
                assert!(
                    c.is_whitespace(),
                    "bad character {c:?} in hex literal line {line:?}"
                );
            }
        }
    }
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// Bytes as 4-byte groups, 16 bytes a line, each line prefixed by its offset: what a failing
/// comparison prints, so the first differing word is easy to find.
pub fn dump(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        s.push_str(&format!("{:04x}:", i * 16));
        for word in line.chunks(4) {
            s.push(' ');
            for b in word {
                s.push_str(&format!("{b:02x}"));
            }
        }
        s.push('\n');
    }
    s
}

/// Asserts byte equality, printing both sides as [`dump`]s.
#[track_caller]
pub fn assert_bytes(actual: &[u8], expected: &[u8]) {
    assert!(
        actual == expected,
        "bytes differ\nactual ({} bytes):\n{}expected ({} bytes):\n{}",
        actual.len(),
        dump(actual),
        expected.len(),
        dump(expected)
    );
}

/// `encode(req, FAMILY, seq)` into a fresh buffer.
pub fn enc(req: &Request, seq: u32) -> Vec<u8> {
    let mut out = Vec::new();
    encode(req, FAMILY, seq, &mut out);
    out
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: ip(addr),
        port,
    }
}

pub fn udp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: ip(addr),
        port,
    }
}

pub fn fwm(family: Family, mark: u32) -> ServiceKey {
    ServiceKey::Fwmark { family, mark }
}

/// A non-persistent service as `ipvsadm -A` makes it: no flags, timeout 0, full netmask.
pub fn service(key: ServiceKey, scheduler: &str) -> Service {
    Service {
        key,
        scheduler: scheduler.to_owned(),
        flags: ServiceFlags(0),
        timeout: 0,
        netmask: Netmask::full(key.family()),
        pe_name: None,
    }
}

pub fn dest(addr: &str, port: u16, forward: Forward, weight: i32) -> Dest {
    Dest {
        key: DestKey {
            addr: ip(addr),
            port,
        },
        forward,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

pub fn dkey(addr: &str, port: u16) -> DestKey {
    DestKey {
        addr: ip(addr),
        port,
    }
}
