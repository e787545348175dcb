//! Copies of the shipped bundle that a test may rewrite.

// Test files that share `common` for other parts use none of it.
#![allow(dead_code)]

use std::path::Path;

use equifx::model::bundle::default_bundle_dir;

/// A copy of the shipped bundle in `dir` (created).
pub fn copy_default(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(default_bundle_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
}
