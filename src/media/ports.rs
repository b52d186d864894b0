//! RTP port allocation from a configured range.
//!
//! RFC 3550 §11: RTP uses an even port and RTCP the next odd one, so ports
//! are handed out in pairs. A rotating cursor keeps a port that just closed
//! from being reused at once, which would route a previous caller's late
//! packets into a new call.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
struct Inner {
    /// First even port of the range.
    first: u16,
    /// Last port of the range (may be odd).
    last: u16,
    /// Next even port to try.
    cursor: u16,
    /// RTP ports in use; each also holds the port above it.
    in_use: HashSet<u16>,
}

impl Inner {
    /// Even ports whose RTCP partner also fits in the range.
    fn pair_count(&self) -> usize {
        if self.last <= self.first {
            return 0;
        }
        (usize::from(self.last) - usize::from(self.first)).div_ceil(2)
    }

    fn nth_pair(&self, i: usize) -> u16 {
        // Cannot exceed `last`: i < pair_count.
        (usize::from(self.first) + 2 * i) as u16
    }
}

/// Hands out even RTP ports with their RTCP partner reserved; clones share
/// one pool.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    inner: Arc<Mutex<Inner>>,
}

impl PortAllocator {
    /// A pool over `first..=last`. An odd `first` is rounded up; an empty
    /// range is allowed and fails every allocation.
    pub fn new(first: u16, last: u16) -> PortAllocator {
        let first = first.saturating_add(first % 2);
        PortAllocator {
            inner: Arc::new(Mutex::new(Inner {
                first,
                last,
                cursor: first,
                in_use: HashSet::new(),
            })),
        }
    }

    /// Binds nonblocking UDP sockets on the next free even port and on the
    /// odd port above it (RTCP, kept in the lease).
    ///
    /// Pairs of which another program holds either port are skipped. Fails
    /// when every pair in the range is in use or unbindable.
    pub fn allocate(&self, bind_ip: IpAddr) -> io::Result<(PortLease, UdpSocket)> {
        let mut inner = lock(&self.inner);
        let pairs = inner.pair_count();
        let start = if pairs == 0 {
            0
        } else {
            (usize::from(inner.cursor.saturating_sub(inner.first)) / 2) % pairs
        };
        let mut last_err = None;
        for i in 0..pairs {
            let port = inner.nth_pair((start + i) % pairs);
            if inner.in_use.contains(&port) {
                continue;
            }
            match bind(bind_ip, port).and_then(|rtp| Ok((rtp, bind(bind_ip, port + 1)?))) {
                Ok((socket, rtcp)) => {
                    inner.in_use.insert(port);
                    inner.cursor = inner.nth_pair((start + i + 1) % pairs);
                    let lease = PortLease {
                        port,
                        rtcp: Some(rtcp),
                        pool: Arc::clone(&self.inner),
                    };
                    return Ok((lease, socket));
                }
                Err(e) => last_err = Some(e),
            }
        }
        let detail = match last_err {
            Some(e) => format!("last bind error: {e}"),
            None => "all in use".to_string(),
        };
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "no free RTP port pair in {}-{} ({detail})",
                inner.first, inner.last
            ),
        ))
    }

    /// Port pairs currently leased.
    pub fn in_use(&self) -> usize {
        lock(&self.inner).in_use.len()
    }

    /// Port pairs the range holds.
    pub fn capacity(&self) -> usize {
        lock(&self.inner).pair_count()
    }
}

fn bind(ip: IpAddr, port: u16) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, port))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A poisoned lock only means another thread panicked while holding it; the
/// set of ports is still consistent, so keep going.
fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An RTP port and its RTCP partner, returned to the pool on drop.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    /// The socket bound on the RTCP port, until the media task takes it.
    rtcp: Option<UdpSocket>,
    pool: Arc<Mutex<Inner>>,
}

impl PortLease {
    /// The RTP port (even).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The RTCP port reserved with it (RFC 3550 §11: RTP port + 1).
    pub fn rtcp_port(&self) -> u16 {
        self.port + 1
    }

    /// The socket bound on the RTCP port; `None` once taken.
    pub fn take_rtcp_socket(&mut self) -> Option<UdpSocket> {
        self.rtcp.take()
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        lock(&self.pool).in_use.remove(&self.port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A range of free ports, found by asking the OS for one and testing the
    /// ones after it. Tests run in parallel, so each picks its own range.
    fn free_range(pairs: u16) -> (u16, u16) {
        for _ in 0..50 {
            let probe = UdpSocket::bind((LOCAL, 0)).expect("bind");
            let base = probe.local_addr().expect("addr").port();
            drop(probe);
            let first = base + base % 2;
            let Some(last) = first.checked_add(2 * pairs - 1) else {
                continue;
            };
            let all_free = (first..=last).all(|p| UdpSocket::bind((LOCAL, p)).is_ok());
            if all_free {
                return (first, last);
            }
        }
        panic!("no free port range found");
    }

    #[test]
    fn allocates_even_ports_and_returns_them() {
        let (first, last) = free_range(3);
        let pool = PortAllocator::new(first, last);
        assert_eq!(pool.capacity(), 3);
        let (a, sa) = pool.allocate(LOCAL).expect("a");
        let (b, sb) = pool.allocate(LOCAL).expect("b");
        let (c, _sc) = pool.allocate(LOCAL).expect("c");
        for (lease, port) in [(&a, first), (&b, first + 2), (&c, first + 4)] {
            assert_eq!(lease.port(), port);
            assert_eq!(lease.rtcp_port(), port + 1);
        }
        assert_eq!(sa.local_addr().expect("addr").port(), first);
        assert_eq!(sb.local_addr().expect("addr").port(), first + 2);
        assert_eq!(pool.in_use(), 3);

        let err = pool.allocate(LOCAL).expect_err("exhausted");
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);

        drop(b);
        drop(sb);
        assert_eq!(pool.in_use(), 2);
        let (d, _sd) = pool.allocate(LOCAL).expect("freed port");
        assert_eq!(d.port(), first + 2);
    }

    #[test]
    fn rotates_instead_of_reusing_at_once() {
        let (first, last) = free_range(3);
        let pool = PortAllocator::new(first, last);
        let (a, sa) = pool.allocate(LOCAL).expect("a");
        assert_eq!(a.port(), first);
        drop((a, sa));
        let (b, _sb) = pool.allocate(LOCAL).expect("b");
        assert_eq!(b.port(), first + 2, "next port, not the one just freed");
        let (c, sc) = pool.allocate(LOCAL).expect("c");
        assert_eq!(c.port(), first + 4);
        drop((c, sc));
        // Wraps around to the start of the range.
        let (d, _sd) = pool.allocate(LOCAL).expect("d");
        assert_eq!(d.port(), first);
    }

    #[test]
    fn skips_ports_held_by_others() {
        let (first, last) = free_range(2);
        let squatter = UdpSocket::bind((LOCAL, first)).expect("squat");
        let pool = PortAllocator::new(first, last);
        let (a, _sa) = pool.allocate(LOCAL).expect("a");
        assert_eq!(a.port(), first + 2);
        let err = pool.allocate(LOCAL).expect_err("only one usable");
        assert!(err.to_string().contains("bind"), "{err}");
        drop(squatter);
    }

    #[test]
    fn binds_the_rtcp_port_and_skips_pairs_whose_rtcp_port_is_taken() {
        let (first, last) = free_range(2);
        let squatter = UdpSocket::bind((LOCAL, first + 1)).expect("squat");
        let pool = PortAllocator::new(first, last);
        let (mut a, _sa) = pool.allocate(LOCAL).expect("a");
        assert_eq!(a.port(), first + 2);
        let rtcp = a.take_rtcp_socket().expect("RTCP socket");
        assert_eq!(rtcp.local_addr().expect("addr").port(), first + 3);
        assert!(a.take_rtcp_socket().is_none());
        assert!(
            UdpSocket::bind((LOCAL, first + 3)).is_err(),
            "RTCP port held"
        );
        drop(squatter);
    }

    #[test]
    fn odd_and_empty_ranges() {
        let pool = PortAllocator::new(41_001, 41_002);
        assert_eq!(pool.capacity(), 0, "41002 has no RTCP partner in range");
        assert!(pool.allocate(LOCAL).is_err());
        let pool = PortAllocator::new(100, 99);
        assert_eq!(pool.capacity(), 0);
        assert!(pool.allocate(LOCAL).is_err());
        let pool = PortAllocator::new(65_534, 65_535);
        assert_eq!(pool.capacity(), 1);
        let pool = PortAllocator::new(65_535, 65_535);
        assert_eq!(pool.capacity(), 0);
    }

    #[test]
    fn clones_share_the_pool() {
        let (first, last) = free_range(2);
        let pool = PortAllocator::new(first, last);
        let other = pool.clone();
        let (_a, _sa) = pool.allocate(LOCAL).expect("a");
        assert_eq!(other.in_use(), 1);
        let (b, _sb) = other.allocate(LOCAL).expect("b");
        assert_eq!(b.port(), first + 2);
    }
}
