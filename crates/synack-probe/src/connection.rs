//! One client connection made the way an application makes it, each phase
//! timed: the TCP handshake (plain connect(), or TCP Fast Open with the
//! first flight in the SYN, RFC 7413), then TLS (rustls, resuming and
//! sending 0-RTT early data when the session cache allows, RFC 8446). The
//! caller gets a blocking stream to speak HTTP over, every read and write
//! bounded by the timeout. TCP_NODELAY is set, as HTTP clients do.

use crate::tls::{self, TlsFailure, TlsOutcome, TlsProbe};
use rustls::{ClientConnection, StreamOwned};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How to open a connection.
#[derive(Clone, Debug)]
pub struct Dial {
    pub addr: SocketAddr,
    pub timeout: Duration,
    /// TCP Fast Open: the first flight (the request, or the ClientHello)
    /// goes in the SYN when a cookie is cached.
    pub fast_open: bool,
    /// TLS with these settings for this host name.
    pub tls: Option<(TlsProbe, String)>,
}

/// A connection's byte stream: plain TCP, or TLS over it.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => t.flush(),
        }
    }
}

/// An open connection and what opening it took.
pub struct Opened {
    pub transport: Transport,
    /// When the first packet was sent for it.
    pub started: Instant,
    /// Until the TCP handshake completed.
    pub connect: Duration,
    /// The TLS handshake: its `handshake` is the time after the TCP one,
    /// or with TCP Fast Open (the ClientHello in the SYN) from the SYN.
    pub tls: Option<TlsOutcome>,
    /// The SYN's data was acknowledged by the SYN-ACK (TCP_INFO).
    pub syn_data_accepted: bool,
}

fn tls_error(f: TlsFailure) -> io::Error {
    io::Error::other(f.explain())
}

/// Opens a connection and sends `request` on it: in the SYN with
/// `fast_open` on plain TCP, as TLS early data when the session allows
/// (sent again after the handshake if the server refused it), or else
/// right after the handshake.
pub fn open(dial: &Dial, request: Option<&[u8]>) -> io::Result<Opened> {
    let socket = Socket::new(
        Domain::for_address(dial.addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_tcp_nodelay(true)?;
    // SO_SNDTIMEO also bounds a blocking TCP Fast Open connect.
    socket.set_write_timeout(Some(dial.timeout))?;
    socket.set_read_timeout(Some(dial.timeout))?;
    let mut conn = match &dial.tls {
        Some((probe, host)) => Some(probe.connection(host).map_err(tls_error)?),
        None => None,
    };
    // The first flight: the ClientHello (with any early data), or the
    // request itself on plain TCP.
    let mut early_sent = false;
    let mut flight = Vec::new();
    if let Some(conn) = conn.as_mut() {
        early_sent = tls::write_early_data(conn, request);
        while conn.wants_write() {
            conn.write_tls(&mut flight)?;
        }
    } else if let Some(request) = request {
        flight.extend_from_slice(request);
    }
    let started = Instant::now();
    let deadline = started + dial.timeout;
    let mut stream: TcpStream = if dial.fast_open && !flight.is_empty() {
        let sent = synack_sys::tcp::fastopen_start(&socket, dial.addr, &flight)?;
        let stream: TcpStream = socket.into();
        if stream.peer_addr().is_err() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the TCP Fast Open connect timed out",
            ));
        }
        let mut stream = stream;
        stream.write_all(&flight[sent..])?;
        stream
    } else {
        socket.connect_timeout(&dial.addr.into(), dial.timeout)?;
        let mut stream: TcpStream = socket.into();
        if !flight.is_empty() {
            stream.write_all(&flight)?;
        }
        stream
    };
    let connect = started.elapsed();
    let syn_data_accepted = synack_sys::tcp::tcp_info(&stream)
        .is_ok_and(|i| i.options & synack_sys::tcp::TcpInfo::OPT_SYN_DATA != 0);
    let Some(mut conn) = conn else {
        return Ok(Opened {
            transport: Transport::Plain(stream),
            started,
            connect,
            tls: None,
            syn_data_accepted,
        });
    };
    let tls_started = if dial.fast_open {
        started
    } else {
        started + connect
    };
    let mut outcome = tls::run_handshake(&mut conn, &mut stream, deadline, Some(tls_started), None)
        .map_err(tls_error)?;
    if early_sent {
        outcome.early_data = Some(conn.is_early_data_accepted());
    }
    let mut transport = StreamOwned::new(conn, stream);
    if let Some(request) = request
        && outcome.early_data != Some(true)
    {
        transport.write_all(request)?;
    }
    Ok(Opened {
        transport: Transport::Tls(Box::new(transport)),
        started,
        connect,
        tls: Some(outcome),
        syn_data_accepted,
    })
}
