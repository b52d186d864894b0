//! An online copy of a SQLite database (`smileyd backup`), taken while the
//! daemon keeps answering calls.

use std::path::{Path, PathBuf};

use sqlx::{AnyConnection, Connection, Row};

use super::connect::{is_memory, Backend};
use super::StoreError;

/// Writes a consistent snapshot of the SQLite database at `url` to `dest`
/// with `VACUUM INTO` (one read transaction: writers go on meanwhile). The
/// copy is written to `dest.part`, checked, fsync'd and only then renamed,
/// so `dest` is never a half-written file. Returns the copy's size in bytes.
pub async fn backup_sqlite(url: &str, dest: &Path) -> Result<u64, StoreError> {
    if Backend::of(url)? != Backend::Sqlite {
        return Err(StoreError::Invalid(
            "backup copies a SQLite database; back up PostgreSQL with pg_dump".into(),
        ));
    }
    if is_memory(url) {
        return Err(StoreError::Invalid(
            "an in-memory database has nothing to back up".into(),
        ));
    }
    if dest.exists() {
        return Err(StoreError::Invalid(format!(
            "{} exists already; name a new file",
            dest.display()
        )));
    }
    let part = part_path(dest);
    // A leftover of an interrupted backup would make VACUUM INTO fail.
    let _ = std::fs::remove_file(&part);
    let part_name = part
        .to_str()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not UTF-8", dest.display())))?;

    sqlx::any::install_default_drivers();
    // Read-only: a wrong path is an error, not a new empty database.
    let mut conn = AnyConnection::connect(&with_mode(url, "ro")).await?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(part_name)
        .execute(&mut conn)
        .await;
    conn.close().await?;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&part);
        return Err(e.into());
    }

    let checked = check(part_name).await;
    if let Err(e) = checked {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    let size = sync_and_rename(&part, dest)
        .map_err(|e| StoreError::Io(format!("{}: {e}", dest.display())))?;
    Ok(size)
}

/// `PRAGMA integrity_check` on the copy: it must answer exactly "ok".
async fn check(path: &str) -> Result<(), StoreError> {
    let mut conn = AnyConnection::connect(&format!("sqlite://{path}?mode=ro")).await?;
    let verdict: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    conn.close().await?;
    if verdict != "ok" {
        return Err(StoreError::Invalid(format!(
            "the copy failed its integrity check: {verdict}"
        )));
    }
    Ok(())
}

fn sync_and_rename(part: &Path, dest: &Path) -> std::io::Result<u64> {
    let file = std::fs::File::open(part)?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    std::fs::rename(part, dest)?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()?;
    Ok(size)
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// The URL with its `mode=` replaced by (or given) `mode`.
fn with_mode(url: &str, mode: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mode="))
        .collect();
    let mode = format!("mode={mode}");
    params.push(&mode);
    format!("{base}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn mode_is_replaced_or_added() {
        assert_eq!(with_mode("sqlite://a.db", "ro"), "sqlite://a.db?mode=ro");
        assert_eq!(
            with_mode("sqlite://a.db?mode=rwc&cache=shared", "ro"),
            "sqlite://a.db?cache=shared&mode=ro"
        );
    }

    #[tokio::test]
    async fn a_copy_taken_while_open_holds_every_committed_row() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let store = Store::connect(&url).await.unwrap();
        let (token, _) = store
            .create_token("wallboard", crate::store::Scope::Read)
            .await
            .unwrap();

        let dest = dir.path().join("copy.db");
        let size = backup_sqlite(&url, &dest).await.unwrap();
        assert_eq!(size, std::fs::metadata(&dest).unwrap().len());
        assert!(!part_path(&dest).exists());

        // Written after the copy: must not be in it.
        store
            .create_token("later", crate::store::Scope::Admin)
            .await
            .unwrap();
        let copy = Store::connect(&format!("sqlite://{}", dest.display()))
            .await
            .unwrap();
        let names: Vec<String> = copy
            .list_tokens()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, vec![token.name]);
        copy.close().await;
        store.close().await;
    }

    #[tokio::test]
    async fn refuses_what_it_cannot_copy() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("copy.db");
        let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
        assert!(matches!(
            backup_sqlite(&missing, &dest).await,
            Err(StoreError::Database(_))
        ));
        assert!(!dir.path().join("missing.db").exists());
        assert!(!dest.exists() && !part_path(&dest).exists());

        std::fs::write(&dest, b"keep me").unwrap();
        let live = format!("sqlite://{}", dir.path().join("live.db").display());
        Store::connect(&live).await.unwrap().close().await;
        assert!(matches!(
            backup_sqlite(&live, &dest).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(std::fs::read(&dest).unwrap(), b"keep me");

        assert!(matches!(
            backup_sqlite("postgres://u@127.0.0.1/x", &dest).await,
            Err(StoreError::Invalid(_))
        ));
    }
}
