//! Copies the write-ahead log back into the database file on a thread of its own.
//!
//! SQLite's automatic checkpoint runs inside the commit that takes the log past its
//! threshold: every few dozen writes, one copied a thousand pages and waited for two
//! `fsync`s while it held the store's only write connection, and every write queued
//! behind it waited as long. Here the writer's commit only counts the pages not yet
//! copied and wakes this thread, whose passive checkpoint runs beside the next writes;
//! the writer copies only the last few itself, to let the log start over.

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

/// Pages written to the log since the last checkpoint that wake the thread.
const WAKE_PAGES: i32 = 1000;

/// Pages in the log past which the writer checkpoints itself. The log starts over only
/// when a write begins with every page of it copied back, which a thread copying beside
/// the writes cannot bring about; the writer can, and by then the thread has left it at
/// most [`WAKE_PAGES`] to copy. Bounds the log file near 128 MiB (more by what is written
/// while a copy of the thread's is under way); it is also the backstop when the thread
/// has fallen behind. Each restart holds the writer for its copy and two `fsync`s (3 to
/// 10 ms); at 8,000 pages, POSTs of new users met one every ~150 ms, and the p99 of writes
/// was ~17% higher.
const RESTART_PAGES: i32 = 32 * WAKE_PAGES;

/// How long an overdue restart waits for the thread's copy to end.
const OVERDUE_WAIT: Duration = Duration::from_secs(1);

/// Wakes the checkpoint thread; the thread ends when every waker is dropped.
#[derive(Clone)]
pub struct Waker {
    wake: SyncSender<()>,
    /// Pages of the log copied back by the last checkpoint (of the log as it was then).
    copied: Arc<AtomicI32>,
}

impl Waker {
    /// Hooks `conn`'s commits (see the module's comment). This also turns off the
    /// connection's automatic checkpoint, which is a hook too.
    pub fn hook(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let waker = self.clone();
        conn.wal_hook(Some(move |wal: &mut Wal, pages: i32| {
            if pages >= RESTART_PAGES {
                // The thread may be copying: a later commit tries again, unless the log has
                // grown past the restart size by half a wake-up already (the thread's
                // copies following one another under load), when this one waits them out.
                let patience = if pages >= RESTART_PAGES + WAKE_PAGES / 2 { OVERDUE_WAIT } else { Duration::ZERO };
                let asked = Instant::now();
                loop {
                    match wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                        Ok((_, copied)) => waker.copied.store(copied, Ordering::Relaxed),
                        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                            if asked.elapsed() < patience {
                                std::thread::sleep(Duration::from_millis(1));
                                continue;
                            }
                        }
                        Err(e) => tracing::warn!("checkpoint of the write-ahead log failed: {e}"),
                    }
                    return Ok(());
                }
            }
            // A log shorter than what was copied has started over since.
            let copied = waker.copied.load(Ordering::Relaxed);
            let uncopied = if pages < copied { pages } else { pages - copied };
            if uncopied >= WAKE_PAGES {
                // A full channel means a checkpoint is due already; a closed one, that the
                // store is closing.
                let _ = waker.wake.try_send(());
            }
            // The commit is done whatever happens here.
            Ok(())
        }))
    }
}

/// Starts the thread for the database at `path` and returns what wakes it. The thread
/// opens its connection at its first wake-up, when the database is surely in WAL mode.
pub fn start(path: &Path) -> Result<Waker, String> {
    let (wake, wakes) = mpsc::sync_channel(1);
    let copied = Arc::new(AtomicI32::new(0));
    let (path, published) = (path.to_path_buf(), copied.clone());
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&path, &wakes, &published))
        .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?;
    Ok(Waker { wake, copied })
}

fn run(path: &Path, wakes: &Receiver<()>, copied: &AtomicI32) {
    let mut conn: Option<Connection> = None;
    while wakes.recv().is_ok() {
        if conn.is_none() {
            conn = open(path).map_err(|e| tracing::warn!("cannot open {} to checkpoint: {e}", path.display())).ok();
        }
        // Passive: copies what no reader still needs and never waits for a lock; what it
        // leaves behind, a later wake-up copies.
        match conn.as_ref().map(|c| c.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE)) {
            Some(Ok((_, pages))) => copied.store(pages, Ordering::Relaxed),
            Some(Err(e)) => tracing::warn!("checkpoint of the write-ahead log failed: {e}"),
            None => {}
        }
    }
}

fn open(path: &Path) -> Result<Connection, String> {
    let conn = Connection::open(path).map_err(|e| e.to_string())?;
    // A connection finds the log at its first read; until then a checkpoint does nothing.
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(|e| e.to_string())?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the database is in {mode} mode, not WAL"));
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = 4096;
    /// A page in the log, with its frame header.
    const FRAME: u64 = PAGE + 24;

    /// A database in WAL mode whose commits are hooked, and its files' paths.
    fn hooked(dir: &Path) -> (Connection, std::path::PathBuf, std::path::PathBuf) {
        let path = dir.join("t.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        start(&path).unwrap().hook(&mut conn).unwrap();
        let wal = dir.join("t.db-wal");
        (conn, path, wal)
    }

    /// Writes `pages` pages of new rows in transactions of about 100 pages.
    fn write_pages(conn: &Connection, pages: u64) {
        for _ in 0..pages / 100 {
            conn.execute_batch("BEGIN").unwrap();
            for _ in 0..100 {
                conn.execute("INSERT INTO t VALUES (zeroblob(4000))", []).unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
        }
    }

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn the_thread_copies_the_log_back_while_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, db, _) = hooked(dir.path());
        // Past the wake-up, short of the writer's own checkpoint: only the thread copies.
        write_pages(&conn, 2 * WAKE_PAGES as u64);
        let deadline = Instant::now() + Duration::from_secs(20);
        while size(&db) < WAKE_PAGES as u64 * PAGE && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(size(&db) >= WAKE_PAGES as u64 * PAGE, "the database file holds {} bytes", size(&db));
    }

    #[test]
    fn the_log_starts_over_instead_of_growing_with_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, db, wal) = hooked(dir.path());
        let written = 3 * RESTART_PAGES as u64;
        write_pages(&conn, written);
        // The writer copies what is left past the restart size, then the log starts over:
        // the file holds at most that, half a wake-up more while the thread copies, and
        // one transaction (here 100 pages) past it, when the writer waits for the thread.
        assert!(size(&wal) <= (RESTART_PAGES + WAKE_PAGES) as u64 * FRAME, "the log holds {} bytes", size(&wal));
        assert!(size(&db) >= (written - RESTART_PAGES as u64) * PAGE, "the database file holds {} bytes", size(&db));
    }
}
