//! The accept loop: HTTP/1.1 connections served by hyper with the limits a
//! public server needs, and graceful shutdown.
//!
//! - at most `max_connections` open connections, and at most
//!   `max_connections_per_ip` from one client address (0 = no such
//!   limit); a connection over either is closed as soon as it is accepted,
//!   counted in `identity_os_connections_refused_total{reason}` and
//!   reported by one `warn` line per [`REFUSAL_LOG_INTERVAL`] at most
//!   ([`Refusals`]), never a line per connection: a flood of refused
//!   connections must not become a flood of synchronously flushed writes;
//! - the request head must arrive within `header_read_timeout_secs`
//!   (slowloris clients are dropped);
//! - a response the client does not take within `write_timeout_secs` of
//!   the socket filling up closes the connection ([`WriteTimeout`]), which
//!   frees the response's buffers: a client that never reads cannot pin
//!   them;
//! - on shutdown: stop accepting, let in-flight requests finish within the
//!   grace period, then close what is left.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::config::ServerConfig;

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    pub max_connections: usize,
    /// Open connections per client IP; 0 = no per-address limit.
    pub max_connections_per_ip: usize,
    pub header_read_timeout: Duration,
    /// See [`WriteTimeout`].
    pub write_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl ListenerLimits {
    /// The limits `[server]` configures.
    pub fn from_config(server: &ServerConfig) -> Self {
        ListenerLimits {
            max_connections: server.max_connections,
            max_connections_per_ip: server.max_connections_per_ip,
            header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
            write_timeout: Duration::from_secs(server.write_timeout_secs),
            shutdown_grace: Duration::from_secs(server.shutdown_grace_secs),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = PerIp::new(limits.max_connections_per_ip);
    let mut refusals = Refusals::new(limits);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
            () = tokio::time::sleep_until(refusals.next_line_at()), if refusals.pending() => {
                refusals.log();
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(connection) => connection,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // The more specific cause first: a client over its own share is
        // refused as such even when the server is also full.
        let ip_slot = match per_ip.as_ref().map(|table| table.try_acquire(peer.ip())) {
            Some(None) => {
                refusals.refuse(Refusal::PerIp, peer);
                continue;
            }
            Some(Some(slot)) => Some(slot),
            None => None,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refusals.refuse(Refusal::Global, peer);
            continue;
        };
        let open = OpenConnection::new(slot, ip_slot);
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(WriteTimeout::new(stream, limits.write_timeout));
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    refusals.log();
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
}

/// The connection's IO: the TCP stream with a write timeout, which hyper's
/// HTTP/1 server does not have.
///
/// The clock starts when the socket first refuses bytes (a write returns
/// `Pending`: the kernel's send buffer is full because the client is not
/// reading) and stops once hyper has handed the kernel everything it had
/// queued (hyper flushes the stream only after its own buffer is empty).
/// If it runs out first, the pending write fails with `TimedOut`, hyper
/// ends the connection with that error, and dropping it frees the
/// response's buffers; the socket is closed with a reset (zero linger) so
/// the kernel discards its unsent copy too instead of keeping it for the
/// client. The clock is not restarted by partial progress: a client
/// trickling a few bytes at a time still has to take the whole response
/// within the timeout, so a response's memory is held for at most
/// `write_timeout` after the socket fills, whatever the client does. A
/// client that reads at all reasonably never notices: the kernel buffers
/// absorb the first megabytes, and the clock runs only for the rest.
///
/// It costs nothing while writes succeed: the timer is created at the
/// first refused write and re-armed only at the next one after a flush.
pub struct WriteTimeout {
    stream: TcpStream,
    timeout: Duration,
    /// Created at the first refused write, then reused.
    clock: Option<Pin<Box<Sleep>>>,
    /// Whether bytes are waiting for the socket since the clock started.
    stalled: bool,
    timed_out: bool,
}

impl WriteTimeout {
    pub fn new(stream: TcpStream, timeout: Duration) -> Self {
        WriteTimeout {
            stream,
            timeout,
            clock: None,
            stalled: false,
            timed_out: false,
        }
    }

    /// A write (or flush, or shutdown) that the socket refused: starts the
    /// clock if it is not running, and fails once it has run out.
    fn poll_stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let clock = self
            .clock
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        if !self.stalled {
            self.stalled = true;
            clock.as_mut().reset(Instant::now() + timeout);
        }
        ready!(clock.as_mut().poll(cx));
        if !self.timed_out {
            self.timed_out = true;
            metrics::counter!("identity_os_connection_write_timeouts_total").increment(1);
            // Discard what the kernel still holds for this client on close.
            let _ = self.stream.set_zero_linger();
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client did not take the response within the write timeout ({} s)",
                self.timeout.as_secs_f64()
            ),
        )))
    }

    /// The socket took everything it was given: the clock stops.
    fn drained(&mut self) {
        self.stalled = false;
    }
}

impl AsyncRead for WriteTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Pending => this.poll_stalled(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_stalled(cx),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_flush(cx) {
            Poll::Pending => this.poll_stalled(cx),
            Poll::Ready(Ok(())) => {
                this.drained();
                Poll::Ready(Ok(()))
            }
            failed => failed,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_shutdown(cx) {
            Poll::Pending => this.poll_stalled(cx),
            done => done,
        }
    }
}

/// What an accepted connection holds while it is open: its slot under
/// `max_connections`, its slot under its address's limit, and its place in
/// `identity_os_connections_open`; all given back when it is dropped.
struct OpenConnection {
    _slot: OwnedSemaphorePermit,
    _ip_slot: Option<IpSlot>,
}

impl OpenConnection {
    fn new(slot: OwnedSemaphorePermit, ip_slot: Option<IpSlot>) -> Self {
        metrics::gauge!("identity_os_connections_open").increment(1.0);
        OpenConnection {
            _slot: slot,
            _ip_slot: ip_slot,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("identity_os_connections_open").decrement(1.0);
    }
}

/// Open connections per client address, for `max_connections_per_ip`.
/// An address's entry exists only while it has connections, so the table
/// is never larger than the number of open connections.
struct PerIp {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place under its address's limit.
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// `None` when there is no per-address limit (0).
    fn new(limit: usize) -> Option<Arc<PerIp>> {
        (limit > 0).then(|| {
            Arc::new(PerIp {
                limit,
                open: Mutex::new(HashMap::new()),
            })
        })
    }

    /// A slot for one more connection from `ip`, unless it has `limit`.
    /// IPv4 clients of a dual-stack listener count as their IPv4 address.
    fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// `max_connections` connections are open.
    Global,
    /// The client's address has `max_connections_per_ip` open.
    PerIp,
}

impl Refusal {
    /// The metric's `reason` label.
    fn label(self) -> &'static str {
        match self {
            Refusal::Global => "max_connections",
            Refusal::PerIp => "max_connections_per_ip",
        }
    }
}

/// How often, at most, refused connections are reported in the log.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Refused connections: each is counted in the metric at once; the log
/// gets one line when the first arrives, then at most one per
/// [`REFUSAL_LOG_INTERVAL`] with the counts since the previous line (the
/// accept loop writes the last counts once the interval is over, even if
/// no connection is refused after them).
struct Refusals {
    limits: ListenerLimits,
    /// Refused since the last line: `max_connections`, `max_connections_per_ip`.
    since_line: [u64; 2],
    last_peer: Option<SocketAddr>,
    last_line: Option<Instant>,
}

impl Refusals {
    fn new(limits: ListenerLimits) -> Self {
        Refusals {
            limits,
            since_line: [0; 2],
            last_peer: None,
            last_line: None,
        }
    }

    /// Counts one refused connection (it is closed when dropped).
    fn refuse(&mut self, reason: Refusal, peer: SocketAddr) {
        metrics::counter!("identity_os_connections_refused_total", "reason" => reason.label())
            .increment(1);
        self.since_line[reason as usize] += 1;
        self.last_peer = Some(peer);
        if self
            .last_line
            .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL)
        {
            self.log();
        }
    }

    /// Whether refusals wait for a line.
    fn pending(&self) -> bool {
        self.since_line != [0; 2]
    }

    /// When the waiting refusals may be written.
    fn next_line_at(&self) -> Instant {
        self.last_line
            .map_or_else(Instant::now, |at| at + REFUSAL_LOG_INTERVAL)
    }

    /// Writes the waiting refusals, if any, as one line.
    fn log(&mut self) {
        if !self.pending() {
            return;
        }
        let [global, per_ip] = std::mem::take(&mut self.since_line);
        tracing::warn!(
            refused_max_connections = global,
            refused_max_connections_per_ip = per_ip,
            max_connections = self.limits.max_connections,
            max_connections_per_ip = self.limits.max_connections_per_ip,
            last_peer = ?self.last_peer.take(),
            interval_secs = REFUSAL_LOG_INTERVAL.as_secs(),
            "connections refused at the connection limits (counts since the previous such line)"
        );
        self.last_line = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_counted_and_given_back() {
        let table = PerIp::new(2).expect("a limit");
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = table.try_acquire(a).expect("first");
        let _second = table.try_acquire(a).expect("second");
        assert!(table.try_acquire(a).is_none(), "third from one address");
        let _other = table
            .try_acquire(b)
            .expect("another address is not affected");
        // The IPv4-mapped form is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(table.try_acquire(mapped).is_none());
        drop(first);
        let _again = table
            .try_acquire(a)
            .expect("a closed connection frees its slot");
        assert!(PerIp::new(0).is_none(), "0 = no per-address limit");
    }

    #[test]
    fn per_ip_entries_go_away_with_their_last_connection() {
        let table = PerIp::new(1).expect("a limit");
        let slot = table.try_acquire("10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(table.open.lock().unwrap().len(), 1);
        drop(slot);
        assert!(table.open.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_are_logged_once_per_interval() {
        let limits = ListenerLimits::from_config(&ServerConfig::default());
        let mut refusals = Refusals::new(limits);
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        refusals.refuse(Refusal::PerIp, peer);
        assert!(!refusals.pending(), "the first refusal is written at once");
        let first_line = refusals.last_line.expect("a line");
        for _ in 0..1000 {
            refusals.refuse(Refusal::Global, peer);
            refusals.refuse(Refusal::PerIp, peer);
        }
        assert_eq!(refusals.since_line, [1000, 1000], "no line per connection");
        assert_eq!(refusals.last_line, Some(first_line));
        assert_eq!(refusals.next_line_at(), first_line + REFUSAL_LOG_INTERVAL);
        tokio::time::advance(REFUSAL_LOG_INTERVAL).await;
        refusals.refuse(Refusal::Global, peer);
        assert!(!refusals.pending(), "one line once the interval is over");
        assert!(refusals.last_line > Some(first_line));
    }

    /// A connected pair of TCP streams on loopback.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn a_write_the_client_does_not_take_fails_after_the_timeout() {
        use tokio::io::AsyncWriteExt;
        let (_client, server) = pair().await;
        let mut io = WriteTimeout::new(server, Duration::from_millis(300));
        let chunk = vec![7u8; 1 << 20];
        let started = std::time::Instant::now();
        let mut written = 0usize;
        let failed = loop {
            match io.write(&chunk).await {
                Ok(n) => written += n,
                Err(e) => break e,
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "still writing after {written} bytes"
            );
        };
        assert_eq!(failed.kind(), io::ErrorKind::TimedOut, "{failed}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(io.timed_out);
    }

    #[tokio::test]
    async fn a_client_that_reads_is_never_timed_out() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = pair().await;
        let mut io = WriteTimeout::new(server, Duration::from_secs(2));
        let total = 32usize << 20;
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 1 << 16];
            let mut read = 0usize;
            while read < total {
                let n = client.read(&mut buf).await.unwrap();
                assert!(n > 0);
                read += n;
            }
            read
        });
        let chunk = vec![1u8; 1 << 20];
        for _ in 0..32 {
            io.write_all(&chunk)
                .await
                .expect("a reading client keeps up");
            io.flush().await.unwrap();
        }
        assert_eq!(reader.await.unwrap(), total);
        assert!(!io.timed_out && !io.stalled);
    }
}
