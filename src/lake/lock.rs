//! The lake's writer lock: one kubeseen run at a time writes to a lake.
//!
//! Why: landing reads a partition's `point_id`s before it writes new part files, rollup
//! refresh replaces rollups, the stale-window list is read-modify-write, and a detection must
//! not miss points landed while it ran (landing marks stale only the findings it can see).
//! Two runs interleaving any of these could land a point twice or lose a stale mark. So
//! `land`, `detect`, `backfill`, `compact`, `demo` and `generate --format lake` hold the writer
//! lock of their lake for the whole run. Readers (Polars, DuckDB, …) need no lock: every object is complete when it
//! becomes visible.
//!
//! In: a [`Location`] and [`LockOptions`]. Out: a [`WriterLock`] held until
//! [`WriterLock::release`] or drop; or [`LockError::Busy`] naming the holder after
//! `--lock-timeout`. Layout: `_kubeseen/locks/writer/<generation, 20 digits>.json`, holding the
//! owner (host, boot id, pid, process start time, a random nonce, command), when it was taken
//! and when it expires. The holder is the owner of the highest generation.
//!
//! Protocol — it needs only a conditional create (`PutMode::Create`: `If-None-Match: *` on S3,
//! a hard link on a local folder), never a conditional overwrite or delete:
//! - acquire: list the folder. Empty: create generation 1. The highest generation `g` held by
//!   a live owner: wait (poll) until it goes or `--lock-timeout` passes. Held by a dead owner
//!   (same host and boot, its pid gone or reused) or expired: create `g + 1`. Creating fails
//!   when another run created that generation first: start over. After creating, read the
//!   object back (after a short settle on object stores: some S3-compatible servers, moto
//!   among them, do not make check-and-create atomic, so two creates can both "succeed" and
//!   the last one wins) and list again: it must hold our nonce and be the highest. Then the
//!   lower generations are deleted.
//! - hold: a thread renews the expiry every quarter of the TTL, overwriting only its own
//!   generation (no other run ever writes it). If a higher generation appears, or renewing
//!   fails until the lock would expire, the lock is lost and the run stops at once (the CLI
//!   exits with code 6, or 5 when the store failed): a stop the lake tolerates like a kill.
//! - release: delete our generation. A run killed with SIGKILL leaves its object behind; the
//!   next run on the same host sees the pid gone and takes over at once, a run on another host
//!   after the TTL (`KUBESEEN_LOCK_TTL`, 60 s).
//!
//! Invariants: at most one live holder, given a store whose conditional create is atomic or
//! settles within [`SETTLE`], wall clocks within a few seconds of each other (expiry compares
//! them across hosts; the lock reads the system clock itself, never `--now`), and runs that
//! share a host name sharing a pid namespace whose `/proc` shows them to each other (no
//! `hidepid` between the users running kubeseen: an invisible pid counts as gone). A holder stalled past its expiry (SIGSTOP, a
//! suspended VM) can be taken over; it notices at its next renewal and stops.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::fmt_instant;
use crate::storage::{Location, StorageError};

/// The folder of the writer lock's generations.
pub const WRITER: &str = "_kubeseen/locks/writer";

/// How long after creating its generation on an object store a run reads it back.
pub const SETTLE: Duration = Duration::from_millis(500);

/// Storage errors tolerated in a row while acquiring (each after the client's own retries).
const MAX_ACQUIRE_FAILURES: u32 = 3;

/// Who holds (or wants) the lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id`: after a reboot every old pid is dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    pub pid: u32,
    /// Start time of the process (clock ticks since boot, `/proc/<pid>/stat`): a reused pid
    /// is another process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// Unique per acquisition: two locks of one process are told apart.
    pub nonce: String,
    /// The subcommand (`land`, `detect`, …).
    pub command: String,
}

impl Owner {
    /// This process, about to run `command`.
    pub fn current(command: &str) -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            boot_id: boot_id(),
            pid,
            pid_start: process_start(pid),
            nonce: nonce(),
            command: command.to_string(),
        }
    }

    fn describe(&self) -> String {
        format!("`kubeseen {}` (pid {} on host {})", self.command, self.pid, self.host)
    }
}

/// The content of a generation object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockRecord {
    pub owner: Owner,
    pub acquired: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    #[serde(default)]
    pub kubeseen_version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{0}")]
    Busy(Box<Busy>),
    #[error("lost the writer lock of lake {lake}: {reason}")]
    Lost {
        lake: String,
        reason: String,
        /// The store failed (renewals kept failing), rather than another run taking over.
        storage: bool,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Who kept the lock while a run waited for it.
#[derive(Debug)]
pub struct Busy {
    pub lake: String,
    pub holder: String,
    pub object: String,
    pub acquired: String,
    pub expires: String,
    pub waited_s: u64,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lake {} is locked by another run: {}, lock object {}, taken at {}, valid until {} unless renewed; gave up after waiting {}s (--lock-timeout). Retry when that run has finished (a killed run's lock is taken over at once on the same host, after its expiry elsewhere)",
            self.lake, self.holder, self.object, self.acquired, self.expires, self.waited_s
        )
    }
}

/// What a run asks of the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// Give up waiting for another run's lock after this long.
    pub timeout: Duration,
    /// The lock expires this long after its last renewal.
    pub ttl: Duration,
    /// The subcommand, recorded in the lock for whoever waits on it.
    pub command: String,
}

/// Called (from the renewal thread) when the lock is lost; the CLI exits there.
pub type OnLost = Box<dyn Fn(&LockError) + Send + Sync>;

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    lost: Mutex<Option<(String, bool)>>,
}

/// A held writer lock; released (its object deleted) by [`WriterLock::release`] or on drop.
pub struct WriterLock {
    lake: Location,
    key: String,
    generation: u64,
    shared: Arc<Shared>,
    renewer: Option<std::thread::JoinHandle<()>>,
    released: bool,
}

impl std::fmt::Debug for WriterLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriterLock({})", self.lake.describe(&self.key))
    }
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

fn key_of(generation: u64) -> String {
    format!("{WRITER}/{generation:020}.json")
}

/// The generations present, ascending, with their keys.
fn generations(lake: &Location) -> Result<Vec<(u64, String)>, StorageError> {
    let mut v: Vec<(u64, String)> = lake
        .list(WRITER)?
        .into_iter()
        .filter_map(|(key, _)| {
            let g = key.rsplit('/').next()?.strip_suffix(".json")?.parse().ok()?;
            Some((g, key))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// A generation object as read now.
enum Seen {
    /// Deleted since it was listed.
    Gone,
    Held(LockRecord),
    /// Free for the taking: why.
    Stale(String, Option<LockRecord>),
}

fn read(lake: &Location, key: &str) -> Result<Option<Result<LockRecord, String>>, StorageError> {
    Ok(lake
        .get_opt(key)?
        .map(|b| serde_json::from_slice::<LockRecord>(&b).map_err(|e| e.to_string())))
}

fn judge(lake: &Location, key: &str, me: &Owner) -> Result<Seen, StorageError> {
    Ok(match read(lake, key)? {
        None => Seen::Gone,
        Some(Err(e)) => Seen::Stale(format!("its object is unreadable ({e})"), None),
        Some(Ok(r)) => {
            if r.owner.nonce == me.nonce {
                Seen::Held(r)
            } else if r.expires < now() {
                let why = format!("it expired at {}", fmt_instant(r.expires));
                Seen::Stale(why, Some(r))
            } else if let Some(why) = dead(&r.owner, me) {
                Seen::Stale(why, Some(r))
            } else {
                Seen::Held(r)
            }
        }
    })
}

/// Why `owner` is certainly dead, judged from this host; `None` when it may be alive.
fn dead(owner: &Owner, me: &Owner) -> Option<String> {
    if owner.host != me.host {
        return None;
    }
    if let (Some(theirs), Some(ours)) = (&owner.boot_id, &me.boot_id) {
        if theirs != ours {
            return Some(format!("host {} has rebooted since", owner.host));
        }
    }
    match process_alive(owner.pid, owner.pid_start) {
        Some(false) => Some(format!("process {} is gone", owner.pid)),
        _ => None,
    }
}

/// What one pass of the acquisition loop found.
enum Attempt {
    Acquired(u64, LockRecord),
    Wait(LockRecord, String),
    Again,
}

fn record(me: &Owner, ttl: Duration) -> LockRecord {
    let t = now();
    LockRecord {
        owner: me.clone(),
        acquired: t,
        expires: t + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60)),
        kubeseen_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

fn attempt(lake: &Location, me: &Owner, ttl: Duration) -> Result<Attempt, StorageError> {
    let gens = generations(lake)?;
    let next = match gens.last() {
        None => 1,
        Some((g, key)) => match judge(lake, key, me)? {
            Seen::Gone => return Ok(Attempt::Again),
            Seen::Held(r) if r.owner.nonce == me.nonce => return confirm(lake, me, *g, r),
            Seen::Held(r) => return Ok(Attempt::Wait(r, key.clone())),
            Seen::Stale(why, r) => {
                let holder = r.map_or("an unknown run".to_string(), |r| r.owner.describe());
                tracing::warn!("taking over the writer lock of {} from {holder}: {why}", lake.display());
                g + 1
            }
        },
    };
    let rec = record(me, ttl);
    let key = key_of(next);
    let body = serde_json::to_vec_pretty(&rec).unwrap_or_default();
    if !lake.put_if_absent(&key, body)? {
        // Someone else created it — or we did, and only the answer was lost before a retry.
        match read(lake, &key)? {
            Some(Ok(r)) if r.owner.nonce == me.nonce => {}
            _ => return Ok(Attempt::Again),
        }
    }
    confirm(lake, me, next, rec)
}

/// Checks that our newly created generation `g` is ours and the highest; drops the lower ones.
fn confirm(lake: &Location, me: &Owner, g: u64, rec: LockRecord) -> Result<Attempt, StorageError> {
    let key = key_of(g);
    if !lake.is_local() {
        std::thread::sleep(SETTLE);
    }
    match read(lake, &key)? {
        Some(Ok(r)) if r.owner.nonce == me.nonce => {}
        // Another run's create overwrote ours (a store without atomic conditional create).
        _ => return Ok(Attempt::Again),
    }
    let gens = generations(lake)?;
    if gens.last().map(|(top, _)| *top) != Some(g) {
        lake.delete(&key)?;
        return Ok(Attempt::Again);
    }
    for (lower, k) in gens.iter().filter(|(x, _)| *x < g) {
        if let Err(e) = lake.delete(k) {
            tracing::warn!("could not delete the old writer lock generation {lower}: {e}");
        }
    }
    Ok(Attempt::Acquired(g, rec))
}

impl WriterLock {
    /// Takes the writer lock of `lake`, waiting up to `opts.timeout` for another run's.
    /// `on_lost` is called from the renewal thread if the lock is lost while held.
    pub fn acquire(lake: &Location, opts: &LockOptions, on_lost: Option<OnLost>) -> Result<WriterLock, LockError> {
        let me = Owner::current(&opts.command);
        let started = Instant::now();
        let mut poll = Duration::from_millis(100);
        let mut failures = 0;
        let mut announced = false;
        let (generation, rec) = loop {
            match attempt(lake, &me, opts.ttl) {
                Ok(Attempt::Acquired(g, rec)) => break (g, rec),
                Ok(Attempt::Again) => {
                    failures = 0;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(Attempt::Wait(r, key)) => {
                    failures = 0;
                    let waited = started.elapsed();
                    if waited >= opts.timeout {
                        return Err(LockError::Busy(Box::new(Busy {
                            lake: lake.display().to_string(),
                            holder: r.owner.describe(),
                            object: lake.describe(&key),
                            acquired: fmt_instant(r.acquired),
                            expires: fmt_instant(r.expires),
                            waited_s: waited.as_secs(),
                        })));
                    }
                    if !announced {
                        tracing::warn!(
                            "lake {} is locked by {} since {}; waiting up to {}s (--lock-timeout)",
                            lake.display(),
                            r.owner.describe(),
                            fmt_instant(r.acquired),
                            opts.timeout.as_secs()
                        );
                        announced = true;
                    }
                    std::thread::sleep(
                        poll.min(opts.timeout.saturating_sub(waited))
                            .max(Duration::from_millis(10)),
                    );
                    poll = (poll * 3 / 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    failures += 1;
                    if failures >= MAX_ACQUIRE_FAILURES {
                        return Err(e.into());
                    }
                    tracing::warn!("taking the writer lock of {}: {e}; trying again", lake.display());
                    std::thread::sleep(poll);
                }
            }
        };
        tracing::debug!(generation, "writer lock of {} taken", lake.display());
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
            lost: Mutex::new(None),
        });
        let renewer = {
            let (lake, shared) = (lake.clone(), shared.clone());
            let ttl = opts.ttl;
            std::thread::Builder::new()
                .name("kubeseen-lock".into())
                .spawn(move || renew_loop(&lake, generation, rec, ttl, &shared, on_lost))
                .ok()
        };
        Ok(WriterLock {
            lake: lake.clone(),
            key: key_of(generation),
            generation,
            shared,
            renewer,
            released: false,
        })
    }

    /// The generation held (1 for the first lock of a lake or after a clean release).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Why the lock was lost, if it was.
    pub fn lost(&self) -> Option<LockError> {
        let lost = self.shared.lost.lock().map(|l| l.clone()).unwrap_or(None);
        lost.map(|(reason, storage)| LockError::Lost {
            lake: self.lake.display().to_string(),
            reason,
            storage,
        })
    }

    fn stop_renewing(&mut self) {
        if let Ok(mut stop) = self.shared.stop.lock() {
            *stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(h) = self.renewer.take() {
            let _ = h.join();
        }
    }

    /// Releases the lock (deletes its object). `Err` if it had been lost while held, or the
    /// object could not be deleted (the next run then takes it over as stale).
    pub fn release(mut self) -> Result<(), LockError> {
        self.stop_renewing();
        self.released = true;
        if let Some(e) = self.lost() {
            return Err(e);
        }
        self.lake.delete(&self.key)?;
        Ok(())
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.stop_renewing();
        if self.lost().is_none() {
            if let Err(e) = self.lake.delete(&self.key) {
                tracing::warn!(
                    "could not release the writer lock {}: {e}",
                    self.lake.describe(&self.key)
                );
            }
        }
    }
}

fn renew_loop(
    lake: &Location,
    generation: u64,
    mut rec: LockRecord,
    ttl: Duration,
    shared: &Shared,
    on_lost: Option<OnLost>,
) {
    let every = ttl / 4;
    let key = key_of(generation);
    loop {
        {
            let Ok(stop) = shared.stop.lock() else { return };
            let Ok((stop, _)) = shared.wake.wait_timeout_while(stop, every, |s| !*s) else {
                return;
            };
            if *stop {
                return;
            }
        }
        let lost: Option<(String, bool)> = match renew(lake, generation, &key, &mut rec, ttl) {
            Ok(None) => None,
            Ok(Some(reason)) => Some((reason, false)),
            Err(e) => {
                // Keep trying while the lock is still valid for others; past that, it may be
                // taken over, so stop.
                let left = rec.expires - now();
                if left < chrono::Duration::from_std(every).unwrap_or_default() {
                    Some((
                        format!(
                            "could not renew it before it expired at {}: {e}",
                            fmt_instant(rec.expires)
                        ),
                        true,
                    ))
                } else {
                    tracing::warn!("renewing the writer lock {}: {e}; trying again", lake.describe(&key));
                    None
                }
            }
        };
        if let Some((reason, storage)) = lost {
            if let Ok(mut l) = shared.lost.lock() {
                *l = Some((reason.clone(), storage));
            }
            let err = LockError::Lost {
                lake: lake.display().to_string(),
                reason,
                storage,
            };
            tracing::error!("{err}");
            if let Some(f) = &on_lost {
                f(&err);
            }
            return;
        }
    }
}

/// Extends our generation's expiry; `Ok(Some(why))` when the lock is no longer ours.
fn renew(
    lake: &Location,
    generation: u64,
    key: &str,
    rec: &mut LockRecord,
    ttl: Duration,
) -> Result<Option<String>, StorageError> {
    let gens = generations(lake)?;
    if let Some((top, top_key)) = gens.last().filter(|(g, _)| *g > generation) {
        let by = match read(lake, top_key) {
            Ok(Some(Ok(r))) => r.owner.describe(),
            _ => "another run".to_string(),
        };
        return Ok(Some(format!(
            "{by} took it over (generation {top} > ours, {generation}), judging ours expired or dead"
        )));
    }
    if !gens.iter().any(|(g, _)| *g == generation) {
        return Ok(Some(format!("its object {} was deleted", lake.describe(key))));
    }
    rec.expires = now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
    lake.put(key, serde_json::to_vec_pretty(rec).unwrap_or_default())?;
    Ok(None)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".to_string())
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `(state, start time)` of process `pid` from `/proc/<pid>/stat`; `None` if it does not exist.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 is the state; field 22 the start time.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// The start time of process `pid` (clock ticks after boot), where `/proc` tells it.
pub fn process_start(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// Whether process `pid` (started at `start`, when known) is alive; `None` when this system
/// cannot tell (no `/proc`).
pub fn process_alive(pid: u32, start: Option<u64>) -> Option<bool> {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return None;
    }
    Some(match proc_stat(pid) {
        None => false,
        Some((state, _)) if state == 'Z' || state == 'X' => false,
        Some((_, started)) => start.is_none_or(|s| s == started),
    })
}

fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&std::process::id().to_le_bytes());
    h.update(&SEQ.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    h.update(&t.to_le_bytes());
    h.update(format!("{:?}{:?}", std::thread::current().id(), Instant::now()).as_bytes());
    let local = 0u8;
    h.update(&(std::ptr::addr_of!(local) as usize).to_le_bytes());
    format!("{:032x}", h.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;

    fn lake() -> (std::path::PathBuf, Location) {
        let dir = std::env::temp_dir().join(format!("kubeseen-lock-{}-{}", std::process::id(), nonce()));
        let loc = Location::open(&dir.display().to_string(), &StoreOptions::default(), true).expect("lake");
        (dir, loc)
    }

    fn opts(timeout_ms: u64) -> LockOptions {
        LockOptions {
            timeout: Duration::from_millis(timeout_ms),
            ttl: Duration::from_secs(60),
            command: "test".into(),
        }
    }

    #[test]
    fn reads_this_process_from_proc() {
        let me = std::process::id();
        assert_eq!(process_alive(me, process_start(me)), Some(true));
        assert_eq!(
            process_alive(me, process_start(me).map(|s| s + 1)),
            Some(false),
            "a reused pid"
        );
        assert_eq!(process_alive(u32::MAX - 1, None), Some(false));
    }

    #[test]
    fn a_second_holder_waits_then_gives_up_naming_the_first() {
        let (dir, lake) = lake();
        let first = WriterLock::acquire(&lake, &opts(0), None).expect("first");
        assert_eq!(first.generation(), 1);
        let err = WriterLock::acquire(&lake, &opts(300), None).expect_err("busy");
        let msg = err.to_string();
        assert!(matches!(err, LockError::Busy(_)), "{msg}");
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        assert!(msg.contains("00000000000000000001.json"), "{msg}");
        first.release().expect("release");
        assert!(lake.list(WRITER).expect("list").is_empty(), "released: no object left");
        let again = WriterLock::acquire(&lake, &opts(0), None).expect("free again");
        assert_eq!(again.generation(), 1);
        drop(again);
        assert!(lake.list(WRITER).expect("list").is_empty(), "dropped: no object left");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_dead_or_expired_holder_is_taken_over_at_once() {
        let (dir, lake) = lake();
        let mut dead = Owner::current("land");
        dead.pid = u32::MAX - 1; // no such process on this host
        let mut rec = record(&dead, Duration::from_secs(3600));
        lake.put(&key_of(4), serde_json::to_vec(&rec).expect("json"))
            .expect("put");
        let t = Instant::now();
        let lock = WriterLock::acquire(&lake, &opts(10_000), None).expect("take over the dead");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(lock.generation(), 5);
        assert_eq!(
            lake.list(WRITER).expect("list").len(),
            1,
            "the dead generation is deleted"
        );
        lock.release().expect("release");

        // Another host, alive for all we know, but expired.
        rec.owner.host = "elsewhere".into();
        rec.owner.nonce = nonce();
        rec.expires = now() - chrono::Duration::seconds(1);
        lake.put(&key_of(7), serde_json::to_vec(&rec).expect("json"))
            .expect("put");
        let lock = WriterLock::acquire(&lake, &opts(10_000), None).expect("take over the expired");
        assert_eq!(lock.generation(), 8);
        drop(lock);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_holder_notices_a_takeover_at_its_next_renewal() {
        let (dir, lake) = lake();
        let o = LockOptions {
            ttl: Duration::from_millis(400),
            ..opts(0)
        };
        let lost = Arc::new(Mutex::new(None));
        let seen = lost.clone();
        let lock = WriterLock::acquire(
            &lake,
            &o,
            Some(Box::new(move |e| {
                if let Ok(mut s) = seen.lock() {
                    *s = Some(e.to_string());
                }
            })),
        )
        .expect("lock");
        // A run elsewhere judged us expired and created the next generation.
        let mut other = Owner::current("land");
        other.host = "elsewhere".into();
        lake.put(
            &key_of(lock.generation() + 1),
            serde_json::to_vec(&record(&other, Duration::from_secs(60))).expect("json"),
        )
        .expect("put");
        std::thread::sleep(Duration::from_millis(600));
        let msg = lost.lock().expect("mutex").clone().expect("on_lost was called");
        assert!(msg.contains("took it over") && msg.contains("elsewhere"), "{msg}");
        assert!(matches!(lock.release(), Err(LockError::Lost { storage: false, .. })));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn threads_racing_for_the_lock_hold_it_one_at_a_time() {
        let (dir, lake) = lake();
        let inside = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let max = Arc::new(std::sync::atomic::AtomicU32::new(0));
        std::thread::scope(|s| {
            for _ in 0..6 {
                let (lake, inside, max) = (lake.clone(), inside.clone(), max.clone());
                s.spawn(move || {
                    for _ in 0..5 {
                        let lock = WriterLock::acquire(&lake, &opts(30_000), None).expect("lock");
                        let n = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        max.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        lock.release().expect("release");
                    }
                });
            }
        });
        assert_eq!(max.load(std::sync::atomic::Ordering::SeqCst), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
