//! Helpers the C++ API tests share.

use std::path::PathBuf;

/// The static library cargo built for this test run: the newest
/// `libequifx_cxx*.a` beside the test binary (an older one from another
/// build of the workspace may lie there too).
pub fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let deps = exe.parent().expect("deps dir");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(deps)
        .expect("deps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libequifx_cxx") && n.ends_with(".a"))
        })
        .chain(Some(deps.join("../libequifx_cxx.a")).filter(|p| p.exists()))
        .collect();
    candidates.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    candidates
        .pop()
        .expect("libequifx_cxx.a next to the test binary")
}
