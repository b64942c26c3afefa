//! Refuses a binary that could not run on `provided.al2023`, judged from the ELF itself.

use goblin::elf::{Elf, header};

use crate::stage::Architecture;

/// Amazon Linux 2023's glibc; a binary needing a newer symbol version fails at start-up.
pub const AL2023_GLIBC: (u32, u32) = (2, 34);

/// What the ELF says about a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfFacts {
    pub machine: &'static str,
    /// Highest `GLIBC_x.y` symbol version required, if dynamically linked against glibc.
    pub max_glibc: Option<(u32, u32)>,
}

/// Reads the architecture and glibc requirement of an executable.
pub fn inspect(bytes: &[u8]) -> Result<ElfFacts, String> {
    let elf = Elf::parse(bytes).map_err(|err| format!("not an ELF executable ({err})"))?;
    if elf.header.e_type != header::ET_EXEC && elf.header.e_type != header::ET_DYN {
        return Err("ELF file is not an executable".to_owned());
    }
    let machine = match elf.header.e_machine {
        header::EM_X86_64 => "x86_64",
        header::EM_AARCH64 => "arm64",
        _ => "another architecture",
    };
    let mut max_glibc = None;
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let name = elf.dynstrtab.get_at(aux.vna_name).unwrap_or_default();
                if let Some(version) = parse_glibc(name) {
                    max_glibc = max_glibc.max(Some(version));
                }
            }
        }
    }
    Ok(ElfFacts { machine, max_glibc })
}

fn parse_glibc(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("GLIBC_")?;
    let mut parts = rest.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// Checks that the binary targets `arch` and needs no glibc newer than AL2023's.
pub fn check(function: &str, bytes: &[u8], arch: Architecture) -> Result<ElfFacts, String> {
    let facts = inspect(bytes).map_err(|err| format!("the {function} binary is {err}"))?;
    if facts.machine != arch.as_str() {
        return Err(format!(
            "the {function} binary is built for {}, but the stage deploys {} functions",
            facts.machine,
            arch.as_str()
        ));
    }
    if let Some((major, minor)) = facts.max_glibc
        && (major, minor) > AL2023_GLIBC
    {
        return Err(format!(
            "the {function} binary needs GLIBC_{major}.{minor}, but provided.al2023 has glibc {}.{}; \
                 it would fail at start-up on Lambda",
            AL2023_GLIBC.0, AL2023_GLIBC.1
        ));
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_parse() {
        assert_eq!(parse_glibc("GLIBC_2.34"), Some((2, 34)));
        assert_eq!(parse_glibc("GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(parse_glibc("GLIBC_PRIVATE"), None);
        assert!((2, 36) > AL2023_GLIBC && (2, 4) < AL2023_GLIBC);
    }

    #[test]
    fn the_running_test_binary_is_inspected() {
        let exe = std::env::current_exe().expect("exe");
        let bytes = std::fs::read(exe).expect("read");
        let facts = inspect(&bytes).expect("elf");
        assert_eq!(
            facts.machine,
            std::env::consts::ARCH.replace("aarch64", "arm64")
        );
        assert!(facts.max_glibc.is_some_and(|v| v >= (2, 2)));
        let wrong = if facts.machine == "x86_64" {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        };
        let err = check("auth", &bytes, wrong).expect_err("wrong architecture");
        assert!(err.contains("but the stage deploys"), "{err}");
        assert!(inspect(b"#!/bin/sh\n").is_err());
    }
}
