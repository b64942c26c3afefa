//! The zip cache: a binary whose bytes were packed before is not deflated again.
//!
//! An entry is `<dir>/<compression>/<function>-<binary sha256>-<zip sha256>.zip`: keyed by the content of the
//! binary (not its path or mtime, which cargo touches) and by how it was packed, and checked against its own hash
//! when reused, so a damaged entry is packed again rather than deployed. Packing is reproducible, so a reused zip
//! is byte for byte the zip packing would give. Each function keeps its [`KEEP`] most recently used entries per
//! compression, so switching between two builds stays cheap and the folder does not grow without bound.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::zip::{Compression, sha256_hex};

/// Entries kept per function and compression.
pub const KEEP: usize = 2;

/// Where packed zips are kept between builds (`target/lambda/cache` of the project).
#[derive(Debug, Clone)]
pub struct ZipCache {
    dir: PathBuf,
}

/// A zip found in the cache.
#[derive(Debug)]
pub struct Hit {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub path: PathBuf,
}

impl ZipCache {
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn folder(&self, compression: Compression) -> PathBuf {
        self.dir.join(compression.tag())
    }

    fn prefix(function: &str, binary_sha256: &str) -> String {
        format!("{function}-{binary_sha256}-")
    }

    /// The intact zip of a binary with this hash, if one was packed before.
    pub fn get(
        &self,
        function: &str,
        binary_sha256: &str,
        compression: Compression,
    ) -> Option<Hit> {
        let prefix = Self::prefix(function, binary_sha256);
        let entries = std::fs::read_dir(self.folder(compression)).ok()?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(expected) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".zip"))
            else {
                continue;
            };
            let path = entry.path();
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let sha256 = sha256_hex(&bytes);
            if sha256 != expected {
                let _ = std::fs::remove_file(&path); // damaged: pack again
                continue;
            }
            // Most recently used, for pruning.
            let _ = std::fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|file| file.set_modified(SystemTime::now()));
            return Some(Hit {
                bytes,
                sha256,
                path,
            });
        }
        None
    }

    /// Stores a freshly packed zip (atomically: concurrent builds may store the same one) and prunes the function's
    /// older entries; returns the entry's path. A cache that cannot be written only costs the next build time.
    pub fn put(
        &self,
        function: &str,
        binary_sha256: &str,
        compression: Compression,
        zip: &[u8],
        zip_sha256: &str,
    ) -> Option<PathBuf> {
        let folder = self.folder(compression);
        std::fs::create_dir_all(&folder).ok()?;
        let path = folder.join(format!(
            "{}{zip_sha256}.zip",
            Self::prefix(function, binary_sha256)
        ));
        let temporary = folder.join(format!(
            ".{function}-{}-{binary_sha256}.partial",
            std::process::id()
        ));
        let stored =
            std::fs::write(&temporary, zip).and_then(|()| std::fs::rename(&temporary, &path));
        if stored.is_err() {
            let _ = std::fs::remove_file(&temporary);
            return None;
        }
        self.prune(function, compression);
        Some(path)
    }

    /// Keeps the function's [`KEEP`] most recently used entries.
    fn prune(&self, function: &str, compression: Compression) {
        let Ok(entries) = std::fs::read_dir(self.folder(compression)) else {
            return;
        };
        let mut own: Vec<(SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|entry| is_entry_of(&entry.file_name().to_string_lossy(), function))
            .map(|entry| {
                let used = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                (used, entry.path())
            })
            .collect();
        own.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        for (_, stale) in own.into_iter().skip(KEEP) {
            let _ = std::fs::remove_file(stale);
        }
    }
}

/// `auth-<64 hex>-<64 hex>.zip` is auth's; `auth-x-…` of a function named `auth-x` is not.
fn is_entry_of(name: &str, function: &str) -> bool {
    let Some(hashes) = name
        .strip_prefix(function)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.strip_suffix(".zip"))
    else {
        return false;
    };
    hashes.len() == 129
        && hashes
            .split('-')
            .all(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Puts `from`'s bytes at `to` as a hard link (no second copy on disk), else as a copy.
pub fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("obctl-zip-cache-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn hash(n: u8) -> String {
        sha256_hex(&[n])
    }

    #[test]
    fn a_stored_zip_is_found_by_binary_hash_and_compression_only() {
        let cache = ZipCache::at(scratch("get"));
        let zip = b"zip bytes".to_vec();
        let zip_sha = sha256_hex(&zip);
        cache
            .put("auth", &hash(1), Compression::Fast, &zip, &zip_sha)
            .expect("stored");
        let hit = cache.get("auth", &hash(1), Compression::Fast).expect("hit");
        assert_eq!((hit.bytes, hit.sha256), (zip, zip_sha));
        assert!(
            cache.get("auth", &hash(2), Compression::Fast).is_none(),
            "another binary"
        );
        assert!(
            cache.get("auth", &hash(1), Compression::Smallest).is_none(),
            "packed otherwise"
        );
        assert!(
            cache.get("data", &hash(1), Compression::Fast).is_none(),
            "another function"
        );
    }

    #[test]
    fn a_damaged_entry_is_a_miss_and_is_removed() {
        let cache = ZipCache::at(scratch("damaged"));
        let zip = b"zip bytes".to_vec();
        let path = cache
            .put("auth", &hash(1), Compression::Fast, &zip, &sha256_hex(&zip))
            .expect("stored");
        std::fs::write(&path, b"zip bytez").expect("damage");
        assert!(cache.get("auth", &hash(1), Compression::Fast).is_none());
        assert!(!path.exists());
    }

    #[test]
    fn each_function_keeps_its_most_recently_used_entries() {
        let cache = ZipCache::at(scratch("prune"));
        let mut paths = Vec::new();
        for n in 0..4u8 {
            let zip = vec![n; 8];
            paths.push(
                cache
                    .put("auth", &hash(n), Compression::Fast, &zip, &sha256_hex(&zip))
                    .expect("stored"),
            );
            // Reusing the first keeps it; the modification times need to differ.
            std::thread::sleep(std::time::Duration::from_millis(20));
            cache
                .get("auth", &hash(0), Compression::Fast)
                .expect("first is kept");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let other = b"realtime".to_vec();
        cache
            .put(
                "auth-x",
                &hash(9),
                Compression::Fast,
                &other,
                &sha256_hex(&other),
            )
            .expect("stored");
        let kept: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(
            kept,
            [true, false, false, true],
            "the first (reused) and the newest"
        );
        assert!(cache.get("auth", &hash(3), Compression::Fast).is_some());
    }
}
