//! The [`RealServer`] on a TAP device: a poll loop in the calling thread ([`run_on_tap`]) or in
//! a thread of its own ([`RealServerThread`]), until a stop flag is set.

use super::{RealServer, RealServerConfig, RealServerError, RealServerStats};
use crate::netns::Tap;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Longest sleep of the loop (ms), so a stop flag is seen within this time.
const MAX_WAIT_MS: u64 = 50;

/// smoltcp's TAP device panics on a write error other than "would block" (e.g. EIO when the
/// link is down, EBADFD when it was deleted); turn that into an error. (Reads report their
/// failure themselves: [`Tap::try_recv`].)
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, RealServerError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        RealServerError::Tap(format!("{what} failed: {msg}"))
    })
}

/// Runs a [`RealServer`] built from `cfg` on `tap` until `stop` is set; returns its counters.
///
/// The loop reads every queued frame, polls the server, writes what it transmits, then waits
/// on the TAP's file descriptor for at most the server's [`RealServer::poll_delay`] (capped at
/// 50 ms, so `stop` is noticed quickly). The TAP's link must be up before the server has
/// anything to send (it only speaks when spoken to).
///
/// Errors: those of [`RealServer::new`]; [`RealServerError::Tap`] when the TAP fails (link
/// down or deleted while the server runs).
pub fn run_on_tap(
    cfg: RealServerConfig,
    tap: &mut Tap,
    stop: &AtomicBool,
) -> Result<RealServerStats, RealServerError> {
    let mut rs = RealServer::new(cfg, smoltcp::time::Instant::now())?;
    tracing::info!(
        rs = %rs.config().name,
        tap = tap.name(),
        rip = %rs.config().rip,
        vips = ?rs.config().vips,
        decap = ?rs.config().decap,
        "real server up"
    );
    while !stop.load(Ordering::Relaxed) {
        while let Some(frame) = tap
            .try_recv()
            .map_err(|e| RealServerError::Tap(e.to_string()))?
        {
            rs.receive(&frame);
        }
        rs.poll(smoltcp::time::Instant::now());
        while let Some(frame) = rs.transmit() {
            guarded("TAP write", || tap.send(&frame))?
                .map_err(|e| RealServerError::Tap(e.to_string()))?;
            rs.recycle(frame);
        }
        let wait = rs
            .poll_delay(smoltcp::time::Instant::now())
            .map_or(MAX_WAIT_MS, |d| d.total_millis().min(MAX_WAIT_MS));
        if wait > 0 {
            match smoltcp::phy::wait(
                tap.as_raw_fd(),
                Some(smoltcp::time::Duration::from_millis(wait)),
            ) {
                // A signal (SIGINT/SIGTERM setting `stop`) interrupted the wait.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(RealServerError::Tap(format!(
                        "waiting on {}: {e}",
                        tap.name()
                    )));
                }
                Ok(()) => {}
            }
        }
    }
    let stats = rs.stats();
    tracing::info!(rs = %rs.config().name, ?stats, "real server stopped");
    Ok(stats)
}

/// A [`RealServer`] running in its own thread on TAP link `tap_name` (opened with
/// [`Tap::open`], in the namespace of the calling process). Dropping the handle stops the
/// thread and waits for it.
///
/// ```no_run
/// use lvs_examples::realserver::{RealServerConfig, RealServerThread};
/// let mut cfg = RealServerConfig::new("rs1", [2, 0, 0, 0, 0, 1], "10.0.0.11".parse().unwrap(), 24);
/// cfg.vips.push("10.0.0.100".parse().unwrap());
/// let rs = RealServerThread::spawn(cfg, "rs1tap").unwrap();
/// // ... move the link onto a bridge, bring it up, send traffic ...
/// let stats = rs.stop().unwrap();
/// # let _ = stats;
/// ```
#[derive(Debug)]
pub struct RealServerThread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<Result<RealServerStats, RealServerError>>>,
    tap_name: String,
}

impl RealServerThread {
    /// Opens (or creates) TAP `tap_name` in a new thread and runs the server there
    /// ([`run_on_tap`]). Returns once the TAP is open, so the caller may then move the link into
    /// a namespace and onto a bridge.
    ///
    /// Errors: [`RealServerError::Tap`] when the TAP cannot be opened or the thread cannot be
    /// started.
    pub fn spawn(
        cfg: RealServerConfig,
        tap_name: &str,
    ) -> Result<RealServerThread, RealServerError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let name = tap_name.to_owned();
        let flag = Arc::clone(&stop);
        let join = std::thread::Builder::new()
            .name(format!("rs-{}", cfg.name))
            .spawn(move || {
                let mut tap = match Tap::open(&name) {
                    Ok(t) => {
                        let _ = ready_tx.send(Ok(()));
                        t
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return Err(RealServerError::Tap(e.to_string()));
                    }
                };
                run_on_tap(cfg, &mut tap, &flag)
            })
            .map_err(|e| RealServerError::Tap(format!("spawning thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(RealServerThread {
                stop,
                join: Some(join),
                tap_name: tap_name.to_owned(),
            }),
            Ok(Err(e)) => {
                let _ = join.join();
                Err(RealServerError::Tap(e))
            }
            Err(_) => {
                let _ = join.join();
                Err(RealServerError::Tap("server thread ended early".into()))
            }
        }
    }

    /// The TAP link's name.
    pub fn tap_name(&self) -> &str {
        &self.tap_name
    }

    /// Whether the thread is still running (false after an error such as a deleted TAP).
    pub fn is_running(&self) -> bool {
        self.join.as_ref().is_some_and(|j| !j.is_finished())
    }

    /// Stops the server and returns its counters (or the error it stopped on).
    ///
    /// Errors: the server's, or [`RealServerError::Tap`] if its thread panicked.
    pub fn stop(mut self) -> Result<RealServerStats, RealServerError> {
        self.finish()
            .unwrap_or_else(|| Err(RealServerError::Tap("already stopped".into())))
    }

    fn finish(&mut self) -> Option<Result<RealServerStats, RealServerError>> {
        self.stop.store(true, Ordering::Relaxed);
        let join = self.join.take()?;
        Some(
            join.join()
                .unwrap_or_else(|_| Err(RealServerError::Tap("server thread panicked".into()))),
        )
    }
}

impl Drop for RealServerThread {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
