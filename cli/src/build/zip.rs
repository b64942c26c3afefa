//! Packs a binary into a reproducible Lambda zip: one entry `bootstrap`, fixed
//! timestamp, fixed permissions, so the same binary always gives the same bytes
//! (and the same SHA-256, hence no needless redeploys).

use std::io::{Cursor, Write};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// How hard a binary is deflated. Fixed per build profile, so the same binary always gives the same zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Deflate level 1, for dev-profile binaries (60+ MiB, only ever uploaded to the local emulator or a dev
    /// stage): about 15% larger than level 9 for a fraction of the CPU.
    Fast,
    /// Deflate level 9, for release zips: the smallest download at every cold start.
    Smallest,
}

impl Compression {
    pub fn for_profile(profile: &str) -> Self {
        if profile == "dev" {
            Self::Fast
        } else {
            Self::Smallest
        }
    }

    fn level(self) -> i64 {
        match self {
            Self::Fast => 1,
            Self::Smallest => 9,
        }
    }

    /// Names the packing in the zip cache: a zip packed differently is a different entry.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Fast => "deflate1",
            Self::Smallest => "deflate9",
        }
    }
}

/// Zips `binary` as an executable `bootstrap`; returns the zip bytes.
pub fn pack(binary: &[u8], compression: Compression) -> Result<Vec<u8>, String> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(compression.level()))
        // The zip epoch: a build's wall-clock time must not leak into the bytes.
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file("bootstrap", options)
        .map_err(|err| format!("zip: {err}"))?;
    writer
        .write_all(binary)
        .map_err(|err| format!("zip: {err}"))?;
    let cursor = writer.finish().map_err(|err| format!("zip: {err}"))?;
    Ok(cursor.into_inner())
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_binary_same_bytes_different_binary_different_hash() {
        let a = pack(b"\x7fELF pretend", Compression::Smallest).expect("zip");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = pack(b"\x7fELF pretend", Compression::Smallest).expect("zip");
        assert_eq!(a, b, "packing must not depend on time");
        let c = pack(b"\x7fELF pretend!", Compression::Smallest).expect("zip");
        assert_ne!(sha256_hex(&a), sha256_hex(&c));
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_zip_holds_one_executable_bootstrap() {
        for compression in [Compression::Fast, Compression::Smallest] {
            let binary = b"binary binary binary binary".repeat(100);
            let bytes = pack(&binary, compression).expect("zip");
            let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("readable");
            assert_eq!(archive.len(), 1);
            let mut entry = archive.by_index(0).expect("entry");
            assert_eq!(entry.name().expect("utf-8 name"), "bootstrap");
            assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
            let mut unpacked = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut unpacked).expect("inflates");
            assert_eq!(unpacked, binary);
        }
    }

    #[test]
    fn the_profile_picks_the_level() {
        assert_eq!(Compression::for_profile("dev"), Compression::Fast);
        assert_eq!(Compression::for_profile("release"), Compression::Smallest);
        let binary: Vec<u8> = (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let fast = pack(&binary, Compression::Fast).expect("zip");
        let smallest = pack(&binary, Compression::Smallest).expect("zip");
        assert_ne!(fast, smallest, "the level is part of the bytes");
    }
}
