//! The split a sample belongs to, as every stage names it (`samples.split`).

/// The split a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Trained on.
    Train,
    /// Evaluated after each epoch (the test or validation split of the dataset).
    Test,
}

impl Split {
    /// The value stored in `samples.split`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    /// The split stored as `name` in `samples.split`, if it is one.
    pub fn parse(name: &str) -> Option<Split> {
        match name {
            "train" => Some(Split::Train),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [Split::Train, Split::Test] {
            assert_eq!(Split::parse(s.as_str()), Some(s));
        }
        assert_eq!(Split::parse("train_eval"), None);
    }
}
