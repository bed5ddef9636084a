//! Binding the port for `--workers N`: N SO_REUSEPORT listening sockets on
//! one address, and never on an address something else already listens on.
//!
//! SO_REUSEPORT lets any socket of the same user join a group, so a second
//! `reviews` started on a taken port would bind too and the kernel would
//! split connections between two services. Before binding the group, a
//! plain socket (SO_REUSEADDR, but not SO_REUSEPORT) is bound to the
//! address: on Linux that fails with EADDRINUSE whenever any socket listens
//! there, SO_REUSEPORT or not. Two supervisors starting at the same moment
//! could both pass that probe before either listens, so the probe-and-bind
//! runs under a lock per port, an abstract-namespace unix socket that the
//! kernel releases when its holder exits: the second to take it probes after
//! the first listens, and fails. The lock is only held while binding, so a
//! new supervisor may start on the port as soon as an old one has closed its
//! sockets (while it drains).

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

/// How long to wait for another process binding the same port.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The listening sockets of every worker slot, all on one address.
pub struct Port {
    /// One socket per slot; worker `i` inherits `listeners[i]`.
    pub listeners: Vec<TcpListener>,
    /// The bound address (port 0 resolved).
    pub addr: SocketAddr,
}

impl Port {
    /// Binds `n` SO_REUSEPORT listening sockets on `addr`, failing with
    /// "cannot listen on ADDR: ..." if anything already listens there.
    pub fn bind(addr: &str, n: usize) -> anyhow::Result<Port> {
        let fail = || format!("cannot listen on {addr}");
        let target = addr
            .to_socket_addrs()
            .with_context(fail)?
            .next()
            .with_context(|| format!("cannot listen on {addr}: no address"))?;
        // For port 0, the probe's bind picks the port the group then shares.
        let mut probe = (target.port() == 0)
            .then(|| probe(target))
            .transpose()
            .with_context(fail)?;
        let target = match &probe {
            Some(probe) => probe.local_addr()?.as_socket().with_context(fail)?,
            None => target,
        };
        let _lock = lock(target.port()).with_context(fail)?;
        if probe.is_none() {
            probe = Some(probe_taken(target).with_context(fail)?);
        }
        let listeners = (0..n.max(1))
            .map(|_| reuseport_listener(target))
            .collect::<io::Result<Vec<_>>>()
            .with_context(fail)?;
        drop(probe);
        Ok(Port {
            listeners,
            addr: target,
        })
    }
}

/// A plain socket bound to `addr`: EADDRINUSE if any socket listens there.
/// SO_REUSEADDR only lets it past connections of an earlier run still in
/// TIME_WAIT; it never lets it share a listening address.
fn probe(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// As [`probe`], saying plainly when the port is taken.
fn probe_taken(addr: SocketAddr) -> io::Result<Socket> {
    probe(addr).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => io::Error::new(
            io::ErrorKind::AddrInUse,
            "address in use (by another process; is another reviews running?)",
        ),
        _ => e,
    })
}

/// Holds the per-port binding lock until dropped (or this process exits).
fn lock(port: u16) -> io::Result<UnixListener> {
    let name = format!("reviews-binding-tcp-port-{port}");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match UnixListener::bind_addr(&addr) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process has been binding this port for 5 s",
                ));
            }
            bound => return bound,
        }
    }
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shares_one_port() {
        let port = Port::bind("127.0.0.1:0", 3).unwrap();
        assert_ne!(port.addr.port(), 0);
        assert!(
            port.listeners
                .iter()
                .all(|l| l.local_addr().unwrap() == port.addr)
        );
    }

    #[test]
    fn a_taken_port_is_refused_whoever_holds_it() {
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = plain.local_addr().unwrap().to_string();
        let err = Port::bind(&taken, 2).err().unwrap();
        assert!(format!("{err:#}").contains("cannot listen on"), "{err:#}");
        // A SO_REUSEPORT group would let a second group join: the probe does not.
        let group = Port::bind("127.0.0.1:0", 2).unwrap();
        let err = Port::bind(&group.addr.to_string(), 2).err().unwrap();
        assert!(format!("{err:#}").contains("address in use"), "{err:#}");
        // Once the first group closes, the port is free again.
        let addr = group.addr.to_string();
        drop(group);
        Port::bind(&addr, 2).unwrap();
    }
}
