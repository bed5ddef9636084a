//! Who has a data directory open to serve: every `reviews` process that
//! serves a directory (the supervisor and each worker) holds a shared
//! `flock` on its `serving.lock`, and `seed` asks for an exclusive one
//! without waiting. A server that dies lets go of its lock with it, so
//! nothing is left to clean up. Replacing a store under a server that keeps
//! it mapped would leave the server serving the old file, and writing
//! where no one will read again.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use crate::store::StoreError;

/// The lock file's name in a data directory.
pub const LOCK_FILE: &str = "serving.lock";

/// A server's hold on its data directory: shared, released on drop.
#[derive(Debug, Clone)]
pub struct Serving(#[allow(dead_code)] Arc<File>);

/// Takes the shared lock a server holds on `dir` while it serves it.
pub fn hold(dir: &Path) -> Result<Serving, StoreError> {
    let file = open(dir)?;
    lock(&file, libc::LOCK_SH).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot lock {}: {e}",
            dir.join(LOCK_FILE).display()
        ))
    })?;
    Ok(Serving(Arc::new(file)))
}

/// Fails with one clear line when a server has `dir` open: what `seed`
/// asks before it loads or drops a store.
pub fn ensure_not_served(dir: &Path) -> Result<(), StoreError> {
    if !dir.join(LOCK_FILE).exists() {
        return Ok(());
    }
    let file = open(dir)?;
    match lock(&file, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(StoreError::Mismatch(format!(
            "{} is open in a running `reviews` server: stop it first (or pass --while-serving \
             to load into a store it keeps serving)",
            dir.display()
        ))),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot lock {}: {e}",
            dir.join(LOCK_FILE).display()
        ))),
    }
}

fn open(dir: &Path) -> Result<File, StoreError> {
    std::fs::create_dir_all(dir)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(LOCK_FILE))
        })
        .map_err(|e| super::data_dir_error(dir, &e))
}

fn lock(file: &File, how: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor this function's caller owns.
    if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_refused_until_let_go() {
        let dir = tempfile::tempdir().unwrap();
        ensure_not_served(dir.path()).unwrap();
        let served = hold(dir.path()).unwrap();
        let second = hold(dir.path()).unwrap();
        let err = ensure_not_served(dir.path()).unwrap_err().to_string();
        assert!(err.contains("running `reviews` server"), "{err}");
        drop(served);
        assert!(ensure_not_served(dir.path()).is_err(), "one holder is left");
        drop(second);
        ensure_not_served(dir.path()).unwrap();
    }
}
