//! Frame lists and chunks.

use crate::error::{Error, Result};

/// The most frames one job may list: far beyond any shot, small enough that
/// a typo like `1-1000000000` fails at once instead of allocating gigabytes.
pub const MAX_FRAMES: usize = 10_000_000;

/// Parses a frame list as OpenCue and OpenJD write them: comma-joined items,
/// each `N`, `A-B`, `A-BxS` or `A-B:S` (step S ≥ 1). Negative frame numbers
/// are written with a leading minus (`-5--1`). Order is kept; duplicates
/// are dropped (a frame is rendered once).
pub fn parse_frames(spec: &str) -> Result<Vec<i64>> {
    let bad = |why: &str| {
        Error::InvalidArgument(format!(
            "frame list '{spec}': {why} (examples: 1001-1100, 1-100x2, 1,5,10-20)"
        ))
    };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in spec.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(bad("empty item"));
        }
        let (range, step) = match item.split_once(['x', ':']) {
            Some((r, s)) => (
                r,
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| bad("step is not a whole number"))?,
            ),
            None => (item, 1),
        };
        if step < 1 {
            return Err(bad("step must be at least 1"));
        }
        // A '-' that is not the first character separates start and end.
        let sep = range
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '-')
            .map(|(i, _)| i);
        let (a, b) = match sep {
            Some(i) => (&range[..i], &range[i + 1..]),
            None => (range, range),
        };
        let num = |s: &str| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| bad(&format!("'{s}' is not a frame number")))
        };
        let (a, b) = (num(a)?, num(b)?);
        if b < a {
            return Err(bad("range ends before it starts"));
        }
        let mut f = a;
        while f <= b {
            if seen.insert(f) {
                out.push(f);
                if out.len() > MAX_FRAMES {
                    return Err(bad("more than 10 million frames"));
                }
            }
            f = match f.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
    }
    Ok(out)
}

/// Task `index` (1-based) of `count` equal contiguous parts of a frame list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub index: usize,
    pub count: usize,
}

impl Chunk {
    /// The frames of this chunk: contiguous, sizes differing by at most one,
    /// together covering the list exactly once.
    pub fn select<'a>(&self, frames: &'a [i64]) -> &'a [i64] {
        let n = frames.len();
        let start = (self.index - 1) * n / self.count;
        let end = self.index * n / self.count;
        &frames[start..end]
    }
}

/// Parses `I/N` (1 ≤ I ≤ N).
pub fn parse_chunk(spec: &str) -> Result<Chunk> {
    let bad = || {
        Error::InvalidArgument(format!(
            "chunk '{spec}' must be INDEX/COUNT with 1 ≤ INDEX ≤ COUNT, e.g. 3/10"
        ))
    };
    let (i, n) = spec.split_once('/').ok_or_else(bad)?;
    let (index, count): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if index == 0 || count == 0 || index > count {
        return Err(bad());
    }
    Ok(Chunk { index, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn farm_manager_syntax() {
        assert_eq!(
            parse_frames("1001-1005").unwrap(),
            vec![1001, 1002, 1003, 1004, 1005]
        );
        assert_eq!(parse_frames("1-10x3").unwrap(), vec![1, 4, 7, 10]);
        assert_eq!(parse_frames("1-10:4").unwrap(), vec![1, 5, 9]);
        assert_eq!(parse_frames("1,5,10-12").unwrap(), vec![1, 5, 10, 11, 12]);
        assert_eq!(parse_frames("-3--1,0").unwrap(), vec![-3, -2, -1, 0]);
        assert_eq!(parse_frames("7").unwrap(), vec![7]);
        assert_eq!(parse_frames("1-3,2-4").unwrap(), vec![1, 2, 3, 4]);
        for bad in [
            "",
            "1-",
            "a-b",
            "5-1",
            "1-10x0",
            "1-10x-2",
            "1,,2",
            "0-99999999999",
        ] {
            assert!(parse_frames(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chunks_partition_the_list_exactly() {
        for n in [1usize, 7, 100, 101] {
            let frames: Vec<i64> = (0..n as i64).collect();
            for count in 1..=12 {
                let mut joined = Vec::new();
                for index in 1..=count {
                    let part = Chunk { index, count }.select(&frames);
                    assert!(part.len() <= n / count + 1);
                    joined.extend_from_slice(part);
                }
                assert_eq!(joined, frames, "n={n} count={count}");
            }
        }
        assert_eq!(
            parse_chunk("3/10").unwrap(),
            Chunk {
                index: 3,
                count: 10
            }
        );
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(parse_chunk(bad).is_err(), "{bad}");
        }
    }
}
