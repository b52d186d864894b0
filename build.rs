use std::path::Path;
use std::process::Command;

fn main() {
    // sqlx::migrate! embeds migrations/ at compile time: rebuild when it changes.
    println!("cargo:rerun-if-changed=migrations");
    // `smileyd --version` names the commit it was built from. A build outside
    // a git checkout (a source tarball) says so; SMILEYD_COMMIT, when set,
    // names the commit for such builds.
    println!("cargo:rerun-if-env-changed=SMILEYD_COMMIT");
    let source = match std::env::var("SMILEYD_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => format!("commit {}", commit.trim()),
        _ => match git_commit() {
            Some(commit) => format!("commit {commit}"),
            None => "not built from a git checkout".to_owned(),
        },
    };
    println!("cargo:rustc-env=SMILEYD_BUILD_SOURCE={source}");
}

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_owned())
}

/// The checked-out commit, when this crate is the top of a git work tree
/// (not a tarball unpacked inside some other repository).
fn git_commit() -> Option<String> {
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let manifest = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    if Path::new(&top).canonicalize().ok()? != Path::new(&manifest).canonicalize().ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Run again when HEAD moves: HEAD itself (a checkout), the branch it
    // names (a commit) and packed-refs. Only files that exist are named:
    // cargo reruns every time for a missing one.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch])?);
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"])?);
    for path in watched {
        let path = Path::new(&top).join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Some(commit)
}
