//! `--shard I/N`: which share of a stage's work one of N processes does, so N
//! machines fill one experiment directory together. Training takes the networks whose
//! index n has n mod N = I; statistics the samples whose `sample_id` has
//! `sample_id` mod N = I.

use std::{fmt, str::FromStr};

/// One share of N: shard `index` of `count` (`0/1` is all of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// The largest N of `--shard I/N`.
pub const MAX_SHARDS: u32 = 1_000_000;

impl Shard {
    /// The whole work, unsplit (`0/1`).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`, or why there is none.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 {
            return Err(format!(
                "`{index}/{count}`: N (the number of shards) must be at least 1"
            ));
        }
        if count > MAX_SHARDS {
            return Err(format!("`{index}/{count}`: N must be at most {MAX_SHARDS}"));
        }
        if index >= count {
            return Err(format!(
                "`{index}/{count}`: I must be below N (shards are numbered 0 to {})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// I.
    pub fn index(self) -> u32 {
        self.index
    }

    /// N.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this is all of the work (`0/1`).
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Whether item `n` (a network index, a `sample_id`) belongs to this shard: n mod N = I.
    pub fn contains(self, n: i64) -> bool {
        n.rem_euclid(i64::from(self.count)) == i64::from(self.index)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || format!("`{text}` is not a shard: expected I/N with whole numbers 0 <= I < N, e.g. 0/4");
        let (i, n) = text.trim().split_once('/').ok_or_else(expected)?;
        let index: u32 = i.trim().parse().map_err(|_| expected())?;
        let count: u32 = n.trim().parse().map_err(|_| expected())?;
        Shard::new(index, count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_bad_ones_say_why() {
        assert_eq!("1/4".parse::<Shard>().unwrap(), Shard::new(1, 4).unwrap());
        assert_eq!(" 0/1 ".parse::<Shard>().unwrap(), Shard::WHOLE);
        assert_eq!(Shard::new(3, 8).unwrap().to_string(), "3/8");
        for (text, why) in [
            ("2/2", "I must be below N"),
            ("1/0", "must be at least 1"),
            ("a/b", "expected I/N"),
            ("1", "expected I/N"),
            ("-1/2", "expected I/N"),
            ("0/2000000", "at most"),
        ] {
            let err = text.parse::<Shard>().unwrap_err();
            assert!(err.contains(why) && err.contains(text.trim()), "{text}: {err}");
        }
    }

    #[test]
    fn every_item_is_in_exactly_one_shard() {
        for count in 1..6u32 {
            for n in -7i64..30 {
                let owners = (0..count)
                    .filter(|&i| Shard::new(i, count).unwrap().contains(n))
                    .count();
                assert_eq!(owners, 1, "{n} of {count}");
            }
        }
        assert!(Shard::new(1, 2).unwrap().contains(3) && !Shard::new(1, 2).unwrap().contains(4));
    }
}
