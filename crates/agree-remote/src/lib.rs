//! Experiment directories on S3-compatible object storage.
//!
//! A stage given `s3://bucket/prefix` works on a local working copy of that prefix
//! (under the cache folder, see [`cache_root`]): [`RemoteDir::pull`] brings the
//! prefix's objects down (only those whose ETag changed since the last pull), the
//! stage runs on the copy exactly as on a local directory, and [`RemoteDir::push`]
//! uploads what the stage wrote or changed and deletes what it removed.
//!
//! - Discovery is a `list` of the prefix; hidden names (a path component starting
//!   with `.`: temporaries, the sync records) are never read as tables.
//! - Uploads are atomic for readers: each file goes up under a hidden temporary key
//!   (`dir/.name.<pid>-<host>.tmp`), is copied to its key once complete, and the
//!   temporary is deleted. A process killed mid-upload leaves at most a hidden
//!   temporary, which the next push from that host removes.
//! - Credentials and endpoint come the standard way, through `object_store`'s
//!   `AmazonS3Builder::from_env`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ….
//! - Writers on several machines share a prefix the way they share a local folder:
//!   each uploads only the files it wrote (per-network and per-shard tables).
//!
//! Every error names the URL (and the key) and what went wrong.

use std::{
    fs, io,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use futures::{StreamExt, TryStreamExt};
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    path::Path as Key,
};
use serde::{Deserialize, Serialize};

/// The folder (inside the working copy) holding one sync record per file.
const SYNC_DIR: &str = ".agree-sync";
/// Files larger than this go up in parts (S3's multipart upload).
const SINGLE_PUT_MAX: u64 = 32 << 20;

/// What went wrong with an experiment directory on object storage.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {problem}")]
pub struct RemoteError {
    /// The URL (or `URL/key`) concerned.
    pub url: String,
    /// What is wrong.
    pub problem: String,
}

/// Whether `dir` names an object-store URL (`s3://…`) rather than a local path.
pub fn is_remote(dir: &Path) -> bool {
    dir.to_str()
        .is_some_and(|s| s.starts_with("s3://") || s.starts_with("s3a://"))
}

/// The cache folder working copies live under: `AGREE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/agree`, else `$HOME/.cache/agree`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("AGREE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("agree");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("agree")
}

/// One sync record: the object's ETag and the local file's size and mtime when it
/// was last pulled or pushed (a changed size or mtime means the stage rewrote it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    e_tag: Option<String>,
    remote_size: u64,
    local_size: u64,
    local_mtime_ns: u128,
}

/// What one pull or push did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncSummary {
    /// Files downloaded or uploaded.
    pub files: usize,
    /// Bytes moved.
    pub bytes: u64,
    /// Files removed (locally on pull, remotely on push).
    pub removed: usize,
    /// Files already up to date.
    pub unchanged: usize,
}

/// An experiment directory at `s3://bucket/prefix` and its local working copy.
pub struct RemoteDir {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    local: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for RemoteDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteDir")
            .field("url", &self.url)
            .field("local", &self.local)
            .finish()
    }
}

impl RemoteDir {
    /// Opens `url` (`s3://bucket/prefix`) with credentials and endpoint from the
    /// environment and checks that the bucket answers (one listing), so a wrong
    /// endpoint, missing credentials or a missing bucket fail here, naming the URL.
    /// The working copy is `cache/s3/bucket/prefix` (`cache` from [`cache_root`]
    /// unless given).
    pub fn open(url: &Path, cache: Option<&Path>) -> Result<Self, RemoteError> {
        let text = url.to_str().unwrap_or_default().trim_end_matches('/').to_string();
        let fail = |problem: String| RemoteError {
            url: text.clone(),
            problem,
        };
        let rest = text
            .strip_prefix("s3://")
            .or_else(|| text.strip_prefix("s3a://"))
            .ok_or_else(|| fail("not an s3:// URL".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(fail("the URL names no bucket (s3://BUCKET/PREFIX)".into()));
        }
        if prefix
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.starts_with('.'))
            && !prefix.is_empty()
        {
            return Err(fail("the prefix has an empty, hidden, `.` or `..` component".into()));
        }
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(300));
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        };
        // `from_env`'s reading of the AWS_* variables, after the timeouts (setting
        // client options afterwards would drop AWS_ALLOW_HTTP).
        let mut builder = AmazonS3Builder::new().with_client_options(client).with_retry(retry);
        for (name, value) in std::env::vars_os() {
            let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
                continue;
            };
            if name.starts_with("AWS_")
                && let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
            {
                builder = builder.with_config(key, value);
            }
        }
        let store = builder
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| fail(format!("cannot configure the S3 client: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start the I/O runtime: {e}")))?;
        let prefix = Key::from(prefix);
        let store: Arc<dyn ObjectStore> = Arc::new(store);
        let probe = runtime.block_on(store.list_with_delimiter(Some(&prefix)));
        if let Err(e) = probe {
            let hint = if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                " (AWS_ACCESS_KEY_ID is not set: credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            } else if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
                " (check AWS_ENDPOINT_URL, and AWS_ALLOW_HTTP=true for an http:// endpoint)"
            } else {
                ""
            };
            return Err(fail(format!("cannot list the bucket: {e}{hint}")));
        }
        let mut local = cache
            .map(Path::to_path_buf)
            .unwrap_or_else(cache_root)
            .join("s3")
            .join(bucket);
        for part in prefix.parts() {
            local.push(part.as_ref());
        }
        fs::create_dir_all(&local)
            .map_err(|e| fail(format!("cannot create the working copy {}: {e}", local.display())))?;
        Ok(Self {
            url: text,
            store,
            prefix,
            local,
            runtime,
        })
    }

    /// The URL, as given (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The local working copy the stage runs on.
    pub fn local(&self) -> &Path {
        &self.local
    }

    fn error(&self, key: Option<&str>, problem: impl std::fmt::Display) -> RemoteError {
        RemoteError {
            url: match key {
                Some(k) if !k.is_empty() => format!("{}/{k}", self.url),
                _ => self.url.clone(),
            },
            problem: problem.to_string(),
        }
    }

    /// The key of `relative` (a `/`-separated path in the working copy).
    fn key(&self, relative: &str) -> Key {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(relative.split('/').map(str::to_string));
        Key::from_iter(parts)
    }

    /// The path of `key` relative to the prefix, if it is under it.
    fn relative(&self, key: &Key) -> Option<String> {
        let parts: Vec<String> = key
            .prefix_match(&self.prefix)?
            .map(|p| p.as_ref().to_string())
            .collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    }

    fn record_path(&self, relative: &str) -> PathBuf {
        self.local.join(SYNC_DIR).join(format!("{relative}.json"))
    }

    fn read_record(&self, relative: &str) -> Option<Record> {
        serde_json::from_slice(&fs::read(self.record_path(relative)).ok()?).ok()
    }

    fn write_record(&self, relative: &str, record: &Record) -> Result<(), RemoteError> {
        let path = self.record_path(relative);
        let fail = |e: io::Error| self.error(Some(relative), format!("cannot write {}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(fail)?;
        }
        let text = serde_json::to_vec(record).map_err(|e| self.error(Some(relative), e))?;
        let tmp = path.with_file_name(agree_schema::temporary_name(
            &path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id(),
        ));
        fs::write(&tmp, text).map_err(fail)?;
        fs::rename(&tmp, &path).map_err(fail)
    }

    fn remove_record(&self, relative: &str) {
        let _ = fs::remove_file(self.record_path(relative));
    }

    /// Every visible object under the prefix: (path relative to the prefix, meta).
    fn listing(&self) -> Result<Vec<(String, object_store::ObjectMeta)>, RemoteError> {
        let metas: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&self.prefix)).try_collect::<Vec<_>>())
            .map_err(|e| self.error(None, format!("cannot list: {e}")))?;
        let mut out: Vec<_> = metas
            .into_iter()
            .filter_map(|m| Some((self.relative(&m.location)?, m)))
            .filter(|(rel, _)| visible(rel))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Brings the prefix's objects into the working copy: new or changed objects
    /// (by ETag) are downloaded (to a temporary name, then renamed), local copies of
    /// objects deleted remotely are removed. Files the stage wrote locally and never
    /// pushed are kept.
    pub fn pull(&self) -> Result<SyncSummary, RemoteError> {
        let mut summary = SyncSummary::default();
        let listing = self.listing()?;
        let remote: std::collections::BTreeSet<&str> = listing.iter().map(|(r, _)| r.as_str()).collect();
        for (relative, meta) in &listing {
            let local = self.local.join(relative);
            let record = self.read_record(relative);
            let current = record.as_ref().is_some_and(|r| {
                r.e_tag == meta.e_tag
                    && r.remote_size == meta.size
                    && local_state(&local) == Some((r.local_size, r.local_mtime_ns))
            });
            if current {
                summary.unchanged += 1;
                continue;
            }
            self.download(relative, meta, &local)?;
            summary.files += 1;
            summary.bytes += meta.size;
        }
        // Local copies of objects that are gone remotely (deleted by another writer).
        for relative in self.records()? {
            if !remote.contains(relative.as_str()) {
                let _ = fs::remove_file(self.local.join(&relative));
                self.remove_record(&relative);
                summary.removed += 1;
            }
        }
        Ok(summary)
    }

    fn download(&self, relative: &str, meta: &object_store::ObjectMeta, local: &Path) -> Result<(), RemoteError> {
        let fail = |e: &dyn std::fmt::Display| {
            self.error(Some(relative), format!("cannot download to {}: {e}", local.display()))
        };
        if let Some(parent) = local.parent() {
            fs::create_dir_all(parent).map_err(|e| fail(&e))?;
        }
        let tmp = local.with_file_name(agree_schema::temporary_name(
            &local.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id(),
        ));
        let result = self.runtime.block_on(async {
            let got = self.store.get(&meta.location).await.map_err(|e| fail(&e))?;
            let mut stream = got.into_stream();
            let mut file = io::BufWriter::new(fs::File::create(&tmp).map_err(|e| fail(&e))?);
            while let Some(chunk) = stream.next().await {
                file.write_all(&chunk.map_err(|e| fail(&e))?).map_err(|e| fail(&e))?;
            }
            file.into_inner()
                .map_err(|e| fail(&e))?
                .sync_all()
                .map_err(|e| fail(&e))
        });
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, local).map_err(|e| fail(&e))?;
        let (local_size, local_mtime_ns) = local_state(local).ok_or_else(|| fail(&"the downloaded file vanished"))?;
        self.write_record(
            relative,
            &Record {
                e_tag: meta.e_tag.clone(),
                remote_size: meta.size,
                local_size,
                local_mtime_ns,
            },
        )
    }

    /// The relative paths of every sync record (files pulled or pushed before).
    fn records(&self) -> Result<Vec<String>, RemoteError> {
        let root = self.local.join(SYNC_DIR);
        let mut out = Vec::new();
        walk(&root, "", &mut |rel, path| {
            if let Some(stripped) = rel.strip_suffix(".json")
                && path.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'))
            {
                out.push(stripped.to_string());
            }
        })
        .map_err(|e| self.error(None, format!("cannot read {}: {e}", root.display())))?;
        Ok(out)
    }

    /// Uploads what the stage wrote or changed in the working copy (oldest first,
    /// the order the stage wrote them), each atomically: a hidden temporary key,
    /// then a copy to its key, then the temporary deleted. Files the stage removed
    /// that were pulled or pushed before are deleted remotely. Stale temporaries of
    /// this host's finished processes are removed.
    pub fn push(&self) -> Result<SyncSummary, RemoteError> {
        let mut summary = SyncSummary::default();
        let mut files = Vec::new();
        walk(&self.local, "", &mut |rel, path| {
            if visible(rel) {
                files.push((rel.to_string(), path.to_path_buf()));
            }
        })
        .map_err(|e| {
            self.error(
                None,
                format!("cannot read the working copy {}: {e}", self.local.display()),
            )
        })?;
        let mut changed = Vec::new();
        for (relative, path) in files {
            let Some((size, mtime)) = local_state(&path) else {
                continue;
            };
            let record = self.read_record(&relative);
            if record.is_some_and(|r| (r.local_size, r.local_mtime_ns) == (size, mtime)) {
                summary.unchanged += 1;
                continue;
            }
            changed.push((mtime, relative, path, size));
        }
        changed.sort();
        for (_, relative, path, size) in changed {
            self.upload(&relative, &path)?;
            summary.files += 1;
            summary.bytes += size;
        }
        for relative in self.records()? {
            if !self.local.join(&relative).is_file() {
                let key = self.key(&relative);
                match self.runtime.block_on(self.store.delete(&key)) {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.error(Some(&relative), format!("cannot delete: {e}"))),
                }
                self.remove_record(&relative);
                summary.removed += 1;
            }
        }
        self.remove_stale_temporaries()?;
        Ok(summary)
    }

    fn upload(&self, relative: &str, path: &Path) -> Result<(), RemoteError> {
        let fail =
            |e: &dyn std::fmt::Display| self.error(Some(relative), format!("cannot upload {}: {e}", path.display()));
        let key = self.key(relative);
        let (dir, name) = relative.rsplit_once('/').map_or(("", relative), |(d, n)| (d, n));
        let tmp_name = agree_schema::temporary_name(name, std::process::id());
        let tmp = self.key(&if dir.is_empty() {
            tmp_name
        } else {
            format!("{dir}/{tmp_name}")
        });
        let before = local_state(path);
        let result = self.runtime.block_on(async {
            let size = fs::metadata(path).map_err(|e| fail(&e))?.len();
            if size <= SINGLE_PUT_MAX {
                let bytes = fs::read(path).map_err(|e| fail(&e))?;
                self.store
                    .put(&tmp, PutPayload::from(bytes))
                    .await
                    .map_err(|e| fail(&e))?;
            } else {
                let upload = self.store.put_multipart(&tmp).await.map_err(|e| fail(&e))?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, 16 << 20);
                let mut file = fs::File::open(path).map_err(|e| fail(&e))?;
                let mut buf = vec![0u8; 8 << 20];
                loop {
                    let n = io::Read::read(&mut file, &mut buf).map_err(|e| fail(&e))?;
                    if n == 0 {
                        break;
                    }
                    writer.wait_for_capacity(4).await.map_err(|e| fail(&e))?;
                    writer.write(&buf[..n]);
                }
                writer.finish().await.map_err(|e| fail(&e))?;
            }
            self.store.copy(&tmp, &key).await.map_err(|e| fail(&e))?;
            self.store.delete(&tmp).await.map_err(|e| fail(&e))?;
            self.store.head(&key).await.map_err(|e| fail(&e))
        });
        let meta = match result {
            Ok(meta) => meta,
            Err(e) => {
                let _ = self.runtime.block_on(self.store.delete(&tmp));
                return Err(e);
            }
        };
        // A file rewritten while it went up is uploaded again by the next push.
        let Some((local_size, local_mtime_ns)) = before.filter(|b| local_state(path) == Some(*b)) else {
            return Ok(());
        };
        self.write_record(
            relative,
            &Record {
                e_tag: meta.e_tag,
                remote_size: meta.size,
                local_size,
                local_mtime_ns,
            },
        )
    }

    /// Removes hidden temporary keys left by this host's processes that have ended
    /// (a push killed mid-upload).
    fn remove_stale_temporaries(&self) -> Result<(), RemoteError> {
        let metas: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&self.prefix)).try_collect::<Vec<_>>())
            .map_err(|e| self.error(None, format!("cannot list: {e}")))?;
        // `.x.0-HOST.tmp` → `-HOST.tmp` (`.tmp` where the host is unknown).
        let mine = agree_schema::temporary_name("x", 0);
        let suffix = mine.strip_prefix(".x.0").unwrap_or(".tmp").to_string();
        for meta in metas {
            let Some(name) = meta.location.filename() else { continue };
            let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(suffix.as_str())) else {
                continue;
            };
            let Some((_, pid)) = inner.rsplit_once('.') else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else { continue };
            if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
                continue;
            }
            let _ = self.runtime.block_on(self.store.delete(&meta.location));
        }
        Ok(())
    }
}

/// Whether a relative path is a table file readers may see (no hidden component).
fn visible(relative: &str) -> bool {
    relative.split('/').all(|c| !c.is_empty() && !c.starts_with('.'))
}

/// A file's size and modification time in nanoseconds, if it is a file.
fn local_state(path: &Path) -> Option<(u64, u128)> {
    let meta = fs::metadata(path).ok().filter(fs::Metadata::is_file)?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    Some((meta.len(), mtime))
}

/// Calls `f(relative, path)` for every file under `root` (none when it is missing).
fn walk(root: &Path, prefix: &str, f: &mut dyn FnMut(&str, &Path)) -> io::Result<()> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &relative, f)?;
        } else if kind.is_file() {
            f(&relative, &entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_visibility() {
        assert!(is_remote(Path::new("s3://b/p")));
        assert!(!is_remote(Path::new("/tmp/s3://b")));
        assert!(!is_remote(Path::new("exp")));
        assert!(visible("predictions/run/epoch=1.parquet"));
        assert!(!visible("predictions/.epoch=1.parquet.1-h.tmp"));
        assert!(!visible(".agree-sync/samples.parquet.json"));
        let err = RemoteDir::open(Path::new("s3:///prefix"), None).unwrap_err();
        assert!(err.to_string().contains("names no bucket"), "{err}");
        let err = RemoteDir::open(Path::new("s3://b/a/../c"), None).unwrap_err();
        assert!(err.to_string().starts_with("s3://b/a/../c: "), "{err}");
    }
}
