//! The process-wide bundle cache: every instance that names the same bundle
//! shares one loaded copy, a bundle no instance uses is kept only among the
//! few most recently used, and a bundle that failed to load is remembered
//! until one of its files changes, so a broken bundle costs once, not per frame.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use candle_core::{DType, Device};
use parking_lot::Mutex;

use super::bundle::{Bundle, MANIFEST_FILE, WEIGHTS_FILE};
use super::prior::PRIOR_FILE;
use crate::error::{Error, Result};

/// Loaded bundles no instance holds that stay loaded: nodes fetch their bundle
/// per render, so the ones in use between renders must not be dropped.
pub const UNUSED_KEPT: usize = 4;

/// Failed loads remembered at most (the oldest are forgotten first).
const FAILURES_KEPT: usize = 64;

/// A file's size and modification time, or nothing when it is absent: what
/// tells a changed file from the one that failed.
type FileIdentity = Option<(u64, Option<SystemTime>)>;

/// (canonical folder, weights/prior hashes, device, precision).
type LoadedKey = (PathBuf, String, String, DType);

#[derive(Default)]
struct Cache {
    loaded: HashMap<LoadedKey, (Arc<Bundle>, u64)>,
    failed: HashMap<(PathBuf, [FileIdentity; 3]), (String, u64)>,
    clock: u64,
}

impl Cache {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Drops the least recently used bundles that nobody holds beyond `UNUSED_KEPT`.
    fn evict_unused(&mut self) {
        let mut unused: Vec<(u64, LoadedKey)> = self
            .loaded
            .iter()
            .filter(|(_, (b, _))| Arc::strong_count(b) == 1)
            .map(|(k, (_, used))| (*used, k.clone()))
            .collect();
        if unused.len() <= UNUSED_KEPT {
            return;
        }
        unused.sort_by_key(|(used, _)| *used);
        for (_, key) in &unused[..unused.len() - UNUSED_KEPT] {
            self.loaded.remove(key);
        }
    }

    fn remember_failure(&mut self, key: (PathBuf, [FileIdentity; 3]), message: String) {
        if self.failed.len() >= FAILURES_KEPT {
            if let Some(oldest) = self
                .failed
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            {
                self.failed.remove(&oldest);
            }
        }
        let at = self.tick();
        self.failed.insert(key, (message, at));
    }
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn identity(path: &Path) -> FileIdentity {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

/// Loads the bundle at `dir` through the cache (same folder, same weights and
/// prior hashes, same device and precision: one shared copy).
pub fn load_cached(dir: &Path, device: &Device, dtype: DType) -> Result<Arc<Bundle>> {
    let canonical = dir
        .canonicalize()
        .map_err(|e| Error::Model(format!("{}: model bundle not found ({e})", dir.display())))?;
    let files = [MANIFEST_FILE, WEIGHTS_FILE, PRIOR_FILE].map(|f| identity(&canonical.join(f)));
    let failure_key = (canonical.clone(), files);
    if let Some((message, _)) = cache().lock().failed.get(&failure_key) {
        return Err(Error::Model(message.clone()));
    }
    let outcome = load_fresh_or_shared(&canonical, device, dtype);
    if let Err(Error::Model(message)) = &outcome {
        cache()
            .lock()
            .remember_failure(failure_key, message.clone());
    }
    outcome
}

fn load_fresh_or_shared(canonical: &Path, device: &Device, dtype: DType) -> Result<Arc<Bundle>> {
    let manifest = Bundle::read_manifest(canonical)?;
    let key = (
        canonical.to_path_buf(),
        // A refitted prior is a different fairness space.
        format!(
            "{}/{}",
            manifest.weights_sha256,
            manifest.prior_sha256.as_deref().unwrap_or("-")
        ),
        format!("{:?}", device.location()),
        dtype,
    );
    {
        let mut c = cache().lock();
        let now = c.tick();
        if let Some((b, used)) = c.loaded.get_mut(&key) {
            *used = now;
            return Ok(b.clone());
        }
    }
    // Load outside the lock: other bundles stay available meanwhile.
    let loaded = Arc::new(Bundle::load_as(canonical, device, dtype)?);
    let mut c = cache().lock();
    let now = c.tick();
    let shared = c.loaded.entry(key).or_insert((loaded, now)).0.clone();
    c.evict_unused();
    Ok(shared)
}

/// How many bundles the cache holds now (used or not).
pub fn loaded_count() -> usize {
    cache().lock().loaded.len()
}
