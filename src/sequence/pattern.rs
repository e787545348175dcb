//! File-name patterns with a frame number.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A path with one frame-number placeholder: printf style `%04d` (or `%d`)
/// or hashes `####` (width = number of hashes). A path without a
/// placeholder names the same file for every frame (a still).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePattern {
    prefix: String,
    suffix: String,
    /// Zero-padding width, or `None` for a still.
    width: Option<usize>,
}

impl FramePattern {
    pub fn parse(pattern: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidArgument(format!("file pattern '{pattern}': {why}"));
        let printf = pattern.find('%');
        let hashes = pattern.find('#');
        let (start, end, width) = match (printf, hashes) {
            (Some(_), Some(_)) => return Err(bad("use either %04d or ####, not both")),
            (Some(i), None) => {
                let rest = &pattern[i + 1..];
                let d = rest.find('d').ok_or_else(|| {
                    bad("'%' must be followed by an optional width and 'd', e.g. %04d")
                })?;
                let digits = &rest[..d];
                let width = if digits.is_empty() {
                    1
                } else {
                    digits
                        .trim_start_matches('0')
                        .parse::<usize>()
                        .unwrap_or(1)
                        .max(1)
                };
                if !digits.chars().all(|c| c.is_ascii_digit()) || width > 12 {
                    return Err(bad("the width in %0Nd must be a number up to 12"));
                }
                (i, i + 1 + d + 1, Some(width))
            }
            (None, Some(i)) => {
                let n = pattern[i..].chars().take_while(|&c| c == '#').count();
                (i, i + n, Some(n))
            }
            (None, None) => (pattern.len(), pattern.len(), None),
        };
        let (prefix, suffix) = (pattern[..start].to_string(), pattern[end..].to_string());
        if suffix.contains(['%', '#']) {
            return Err(bad("only one frame placeholder is allowed"));
        }
        Ok(FramePattern {
            prefix,
            suffix,
            width,
        })
    }

    pub fn is_sequence(&self) -> bool {
        self.width.is_some()
    }

    /// Frame numbers of the files on disk that match this pattern, sorted.
    pub fn scan(&self) -> Result<Vec<i64>> {
        let full = std::path::Path::new(&self.prefix);
        let (dir, name_prefix) = if self.prefix.ends_with('/') || self.prefix.is_empty() {
            (
                std::path::PathBuf::from(if self.prefix.is_empty() {
                    "."
                } else {
                    &self.prefix
                }),
                String::new(),
            )
        } else {
            let dir = full
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = full
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (dir.to_path_buf(), name)
        };
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut frames = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(middle) = name
                .strip_prefix(&name_prefix)
                .and_then(|r| r.strip_suffix(&self.suffix))
            else {
                continue;
            };
            let digits = middle.strip_prefix('-').unwrap_or(middle);
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
                if let Ok(f) = middle.parse::<i64>() {
                    frames.push(f);
                }
            }
        }
        frames.sort_unstable();
        frames.dedup();
        Ok(frames)
    }

    /// The file of frame `frame`; negative frames keep their sign before the padding.
    pub fn path(&self, frame: i64) -> PathBuf {
        match self.width {
            None => PathBuf::from(format!("{}{}", self.prefix, self.suffix)),
            Some(w) => {
                let digits = format!("{:0w$}", frame.unsigned_abs(), w = w);
                let sign = if frame < 0 { "-" } else { "" };
                PathBuf::from(format!("{}{sign}{digits}{}", self.prefix, self.suffix))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_and_hash_patterns() {
        assert_eq!(
            FramePattern::parse("shot.%04d.exr").unwrap().path(7),
            PathBuf::from("shot.0007.exr")
        );
        assert_eq!(
            FramePattern::parse("shot.####.exr").unwrap().path(1001),
            PathBuf::from("shot.1001.exr")
        );
        assert_eq!(
            FramePattern::parse("a/%d.png").unwrap().path(12),
            PathBuf::from("a/12.png")
        );
        assert_eq!(
            FramePattern::parse("s.%03d.tif").unwrap().path(-4),
            PathBuf::from("s.-004.tif")
        );
        assert_eq!(
            FramePattern::parse("s.%04d.png").unwrap().path(123_456),
            PathBuf::from("s.123456.png")
        );
        let still = FramePattern::parse("plate.png").unwrap();
        assert!(!still.is_sequence());
        assert_eq!(still.path(5), PathBuf::from("plate.png"));
        for bad in ["a.%04x.png", "a.%04d.%04d.png", "a.##.%d.png", "a.%4 d.png"] {
            assert!(FramePattern::parse(bad).is_err(), "{bad}");
        }
    }
}
