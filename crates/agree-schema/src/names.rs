//! Table names agree's SQL session uses besides the contract tables, and the rule
//! a user-chosen (score) table name must follow so that it never shadows one.

/// Tables the SQL session defines itself: the unions and parameter tables it
/// registers, and the analysis's intermediate steps (agree-sql checks in a test
/// that every intermediate step is listed).
pub const SESSION_TABLES: [&str; 13] = [
    "predictions",
    "networks",
    "statistic_values",
    "statistic_wide",
    "statistic_buckets",
    "statistic_index",
    "analysis_epochs",
    "analysis_parameters",
    "group_members",
    "sample_agreement",
    "network_accuracy",
    "statistic_bins",
    "sample_bins",
];

/// Whether `name` is a lower-case SQL identifier (`[a-z_][a-z0-9_]*`).
pub fn is_table_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether a contract table (stage or result) or a session table is called `name`.
pub fn is_reserved_table_name(name: &str) -> bool {
    crate::contracts().iter().any(|c| c.name == name) || SESSION_TABLES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_reserved_names() {
        for ok in ["cifar10h", "_x", "c_score2"] {
            assert!(is_table_identifier(ok) && !is_reserved_table_name(ok), "{ok}");
        }
        for bad in ["", "2x", "my-scores", "Upper", "é"] {
            assert!(!is_table_identifier(bad), "{bad}");
        }
        for taken in [
            "samples",
            "stats",
            "agreement",
            "learning_order",
            "predictions",
            "sample_bins",
        ] {
            assert!(is_reserved_table_name(taken), "{taken}");
        }
    }
}
