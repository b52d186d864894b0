//! Which addresses a webhook may be delivered to. An admin token must not
//! turn smileyd into a way to reach what only the daemon's host can reach:
//! its own ports (loopback), the cloud metadata service (169.254.169.254,
//! link-local) or the internal network. The rule is applied when a receiver
//! is added and again to every address its name resolves to at delivery
//! time, so a name that later resolves elsewhere (DNS rebinding) gets
//! nowhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused as a webhook destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 0.0.0.0/8, `::`: not an address of any one host.
    Unspecified,
    /// 127.0.0.0/8, `::1`: this host.
    Loopback,
    /// 169.254.0.0/16, fe80::/10: cloud metadata services live here.
    LinkLocal,
    /// RFC 1918, RFC 6598 shared space, RFC 4193 unique local addresses.
    Private,
    /// Multicast, broadcast and other addresses no single receiver owns.
    NotUnicast,
}

impl Refusal {
    /// Whether `webhook_delivery.allow_private_networks` lifts the refusal:
    /// it does for receivers on this host or the internal network, never
    /// for link-local (metadata) or addresses that name no one host.
    pub fn lifted_by_allow_private(self) -> bool {
        matches!(self, Refusal::Loopback | Refusal::Private)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unspecified => "an unspecified address",
            Refusal::Loopback => "a loopback address",
            Refusal::LinkLocal => "a link-local address",
            Refusal::Private => "a private network address",
            Refusal::NotUnicast => "not a unicast address",
        }
    }
}

/// For a URL whose host is an address literal: `Err` with a sentence
/// saying why deliveries there are refused. Host names pass here; their
/// addresses are checked when they are resolved.
pub fn check_url_literal(url: &str, allow_private_networks: bool) -> Result<(), String> {
    let host = reqwest::Url::parse(url).ok().and_then(|u| {
        let h = u.host_str()?;
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()
    });
    match host {
        Some(ip) => check(ip, allow_private_networks).map_err(|r| refusal_message(ip, r)),
        None => Ok(()),
    }
}

/// "127.0.0.1 is a loopback address, ..." for errors and `last_error`.
pub fn refusal_message(ip: IpAddr, r: Refusal) -> String {
    if r.lifted_by_allow_private() {
        format!(
            "{ip} is {}; webhooks go there only with webhook_delivery.allow_private_networks = true",
            r.as_str()
        )
    } else {
        format!("{ip} is {}; webhooks are never delivered there", r.as_str())
    }
}

/// What kind of refused address `ip` is, if any. IPv4 addresses inside
/// IPv6 (mapped, compatible, NAT64) are judged as the IPv4 address.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

/// `Ok` when `ip` may receive webhooks under this policy, else why not.
pub fn check(ip: IpAddr, allow_private_networks: bool) -> Result<(), Refusal> {
    match classify(ip) {
        Some(r) if !(allow_private_networks && r.lifted_by_allow_private()) => Err(r),
        _ => Ok(()),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let o = ip.octets();
    if o[0] == 0 {
        Some(Refusal::Unspecified)
    } else if ip.is_loopback() {
        Some(Refusal::Loopback)
    } else if ip.is_link_local() {
        Some(Refusal::LinkLocal)
    } else if ip.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
        // RFC 1918, and RFC 6598 shared address space (100.64.0.0/10).
        Some(Refusal::Private)
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some(Refusal::NotUnicast)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let s = ip.segments();
    if ip.is_unspecified() {
        Some(Refusal::Unspecified)
    } else if ip.is_loopback() {
        Some(Refusal::Loopback)
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Some(Refusal::LinkLocal)
    } else if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0 {
        // RFC 4193 unique local, and the deprecated site-local fec0::/10.
        Some(Refusal::Private)
    } else if ip.is_multicast() {
        Some(Refusal::NotUnicast)
    } else {
        None
    }
}

/// The IPv4 address carried in an IPv4-mapped (::ffff:a.b.c.d),
/// IPv4-compatible (::a.b.c.d) or NAT64 (64:ff9b::a.b.c.d, RFC 6052)
/// address: connecting to one of those reaches the IPv4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (mapped || compatible || nat64).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(s: &str) -> Option<Refusal> {
        classify(s.parse().expect("address"))
    }

    #[test]
    fn refused_kinds() {
        for (ip, want) in [
            ("0.0.0.0", Some(Refusal::Unspecified)),
            ("0.1.2.3", Some(Refusal::Unspecified)),
            ("::", Some(Refusal::Unspecified)),
            ("127.0.0.1", Some(Refusal::Loopback)),
            ("127.255.0.9", Some(Refusal::Loopback)),
            ("::1", Some(Refusal::Loopback)),
            ("::ffff:127.0.0.1", Some(Refusal::Loopback)),
            ("169.254.169.254", Some(Refusal::LinkLocal)),
            ("::ffff:169.254.169.254", Some(Refusal::LinkLocal)),
            ("64:ff9b::a9fe:a9fe", Some(Refusal::LinkLocal)),
            ("fe80::1", Some(Refusal::LinkLocal)),
            ("10.1.2.3", Some(Refusal::Private)),
            ("172.16.0.1", Some(Refusal::Private)),
            ("172.31.255.255", Some(Refusal::Private)),
            ("192.168.1.1", Some(Refusal::Private)),
            ("100.64.0.1", Some(Refusal::Private)),
            ("100.127.255.254", Some(Refusal::Private)),
            ("fd00::1", Some(Refusal::Private)),
            ("fc00::1", Some(Refusal::Private)),
            ("224.0.0.1", Some(Refusal::NotUnicast)),
            ("255.255.255.255", Some(Refusal::NotUnicast)),
            ("240.0.0.1", Some(Refusal::NotUnicast)),
            ("ff02::1", Some(Refusal::NotUnicast)),
            ("93.184.215.14", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("8.8.8.8", None),
            ("2606:4700::1111", None),
            ("::ffff:8.8.8.8", None),
        ] {
            assert_eq!(verdict(ip), want, "{ip}");
        }
    }

    #[test]
    fn allow_private_lifts_loopback_and_private_only() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(check(ip("127.0.0.1"), false), Err(Refusal::Loopback));
        assert_eq!(check(ip("127.0.0.1"), true), Ok(()));
        assert_eq!(check(ip("10.0.0.8"), false), Err(Refusal::Private));
        assert_eq!(check(ip("10.0.0.8"), true), Ok(()));
        assert_eq!(check(ip("169.254.169.254"), true), Err(Refusal::LinkLocal));
        assert_eq!(check(ip("0.0.0.0"), true), Err(Refusal::Unspecified));
        assert_eq!(check(ip("224.0.0.1"), true), Err(Refusal::NotUnicast));
        assert_eq!(check(ip("8.8.8.8"), false), Ok(()));
    }
}
