//! A dataset tree read in place: a directory, a `.tar`, or a `.tar.gz`/`.tgz`
//! archive, without extracting anything to disk.

use std::{
    fs::File,
    io::{BufReader, Read},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::{IngestError, Result};

/// One entry found while scanning a tree.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    /// `/`-separated path relative to the tree's top (no leading `./`).
    pub path: String,
    /// Whether the entry is a directory.
    pub is_dir: bool,
    /// Size in bytes.
    pub size: u64,
    /// The content, for entries the scan was asked to keep (annotations, lists).
    pub content: Option<Vec<u8>>,
    /// Why the entry cannot be read as a file (a hard link or device member, a name
    /// that is not UTF-8, a size over the member limit); its content is never read.
    pub problem: Option<String>,
}

/// The per-member size limit when none is given: larger than any image or batch
/// file of the supported datasets (a CIFAR-10 batch is 30 MB).
pub const DEFAULT_MAX_MEMBER_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeKind {
    Dir,
    Tar,
    TarGz,
}

/// Decompressed file contents an archive scan keeps for the stream that follows, so
/// that a small archive is read and inflated once, not twice. Past this many bytes the
/// scan lets them go and the stream reads the archive again: ImageNet-sized archives
/// must never sit in memory.
const RETAIN_BYTES: usize = 512 << 20;

/// Files of an archive in stored order, kept by [`InputTree::scan`].
type Retained = Vec<(String, Vec<u8>)>;

/// What an archive scan keeps for the stream: every file's contents until their
/// total passes the budget, then nothing.
struct Retainer {
    files: Option<Retained>,
    bytes: usize,
    budget: usize,
}

impl Retainer {
    /// Counts a member of `size` bytes against the budget, letting everything go
    /// once the total passes it.
    fn count(&mut self, size: u64) {
        self.bytes = self.bytes.saturating_add(size as usize);
        if self.bytes > self.budget {
            self.files = None;
        }
    }
}

/// A directory or tar archive holding a dataset.
#[derive(Debug, Clone)]
pub struct InputTree {
    path: PathBuf,
    kind: TreeKind,
    /// What the last scan of an archive kept for [`InputTree::stream`] (taken by it).
    retained: Arc<Mutex<Option<Retained>>>,
    /// Files and members larger than this are never read.
    max_member_bytes: u64,
}

/// Reader that hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl InputTree {
    /// Opens `path`: a directory, or a file ending in `.tar`, `.tar.gz` or `.tgz`
    /// (gzip is also recognised by its magic bytes).
    pub fn open(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| IngestError::io(path, e))?;
        let kind = if meta.is_dir() {
            TreeKind::Dir
        } else {
            let mut magic = [0u8; 2];
            let mut f = File::open(path).map_err(|e| IngestError::io(path, e))?;
            let n = f.read(&mut magic).map_err(|e| IngestError::io(path, e))?;
            if n == 2 && magic == [0x1f, 0x8b] {
                TreeKind::TarGz
            } else {
                TreeKind::Tar
            }
        };
        Ok(InputTree {
            path: path.to_path_buf(),
            kind,
            retained: Arc::default(),
            max_member_bytes: DEFAULT_MAX_MEMBER_BYTES,
        })
    }

    /// Opens every input with the given per-member size limit.
    pub fn open_all(paths: &[PathBuf], max_member_bytes: u64) -> Result<Vec<Self>> {
        paths
            .iter()
            .map(|p| Self::open(p).map(|t| t.with_member_limit(max_member_bytes)))
            .collect()
    }

    /// The same tree with files and members over `max_member_bytes` left unread
    /// (reported as a [`TreeEntry::problem`] by the scan, an error by the stream).
    pub fn with_member_limit(mut self, max_member_bytes: u64) -> Self {
        self.max_member_bytes = max_member_bytes;
        self
    }

    /// Why a file of `size` bytes is not read, if it is too large.
    fn oversize(&self, size: u64) -> Option<String> {
        (size > self.max_member_bytes).then(|| {
            format!(
                "{size} bytes exceed the member size limit of {} bytes (raise it with --max-member-bytes)",
                self.max_member_bytes
            )
        })
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this is an archive (as opposed to a directory).
    pub fn is_archive(&self) -> bool {
        self.kind != TreeKind::Dir
    }

    fn archive_reader(&self) -> Result<ArchiveStream> {
        let file = File::open(&self.path).map_err(|e| IngestError::io(&self.path, e))?;
        let hashed = HashingReader {
            inner: BufReader::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
        };
        Ok(match self.kind {
            TreeKind::TarGz => ArchiveStream::Gz(Box::new(MultiGzDecoder::new(hashed))),
            _ => ArchiveStream::Plain(hashed),
        })
    }

    /// Lists every entry (directories included), keeping the content of the files for
    /// which `keep` says so. For archives this reads the whole file once and also
    /// returns the SHA-256 of the archive file; for directories the checksum is `None`.
    /// While an archive's files total under `RETAIN_BYTES`, the scan also keeps the
    /// other files' contents for the [`InputTree::stream`] that follows.
    pub fn scan(&self, keep: impl Fn(&str) -> bool) -> Result<(Vec<TreeEntry>, Option<String>)> {
        self.scan_retaining(keep, RETAIN_BYTES)
    }

    /// [`InputTree::scan`], keeping archive contents up to `budget` bytes.
    fn scan_retaining(&self, keep: impl Fn(&str) -> bool, budget: usize) -> Result<(Vec<TreeEntry>, Option<String>)> {
        match self.kind {
            TreeKind::Dir => Ok((self.scan_dir(&keep)?, None)),
            TreeKind::Tar | TreeKind::TarGz => self.scan_archive(&keep, budget).map(|(out, sha)| (out, Some(sha))),
        }
    }

    /// Lists a directory tree in sorted order, reading the files `keep` says.
    fn scan_dir(&self, keep: &dyn Fn(&str) -> bool) -> Result<Vec<TreeEntry>> {
        let mut out = Vec::new();
        for item in walkdir::WalkDir::new(&self.path).min_depth(1).sort_by_file_name() {
            let item = item.map_err(|e| {
                let p = e.path().unwrap_or(&self.path).to_path_buf();
                IngestError::io(p, e.into())
            })?;
            let rel = relative(&self.path, item.path());
            let is_dir = item.file_type().is_dir();
            let size = if is_dir {
                0
            } else {
                item.metadata().map(|m| m.len()).unwrap_or(0)
            };
            let problem = if is_dir {
                None
            } else if item.path().to_str().is_none() {
                Some(NOT_UTF8.to_string())
            } else {
                self.oversize(size)
            };
            let content = if !is_dir && problem.is_none() && keep(&rel) {
                Some(std::fs::read(item.path()).map_err(|e| IngestError::io(item.path(), e))?)
            } else {
                None
            };
            out.push(TreeEntry {
                path: rel,
                is_dir,
                size,
                content,
                problem,
            });
        }
        Ok(out)
    }

    /// Lists an archive in stored order, reading the files `keep` says and retaining
    /// the others' contents while they fit `budget`; returns the entries and the
    /// archive file's SHA-256.
    fn scan_archive(&self, keep: &dyn Fn(&str) -> bool, budget: usize) -> Result<(Vec<TreeEntry>, String)> {
        let mut reader = self.archive_reader()?;
        let mut retained = Retainer {
            files: Some(Vec::new()),
            bytes: 0,
            budget,
        };
        let mut out = Vec::new();
        {
            let mut archive = tar::Archive::new(&mut reader);
            let entries = archive.entries().map_err(|e| self.archive_error(None, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| self.archive_error(None, e))?;
                out.extend(self.scan_member(entry, keep, &mut retained)?);
            }
        }
        let sha256 = reader.finish().map_err(|e| self.archive_error(None, e))?;
        *self.retained.lock().unwrap_or_else(|p| p.into_inner()) = retained.files;
        Ok((out, sha256))
    }

    /// One archive member as a scan lists it (`None` for members that are neither
    /// files nor folders nor problems, and for empty names).
    fn scan_member<R: Read>(
        &self,
        mut entry: tar::Entry<'_, R>,
        keep: &dyn Fn(&str) -> bool,
        retained: &mut Retainer,
    ) -> Result<Option<TreeEntry>> {
        let Some(path) = member_path(&entry) else {
            return Ok(None);
        };
        let kind = entry.header().entry_type();
        let is_dir = kind.is_dir();
        let size = entry.size();
        let problem = if is_dir {
            None
        } else {
            member_problem(&entry).or_else(|| self.oversize(size))
        };
        if problem.is_none() && !is_dir && !kind.is_file() {
            return Ok(None);
        }
        if problem.is_some() {
            return Ok(Some(TreeEntry {
                path,
                is_dir: false,
                size,
                content: None,
                problem,
            }));
        }
        let kept = !is_dir && keep(&path);
        retained.count(size);
        let content = if kept || (!is_dir && retained.files.is_some()) {
            let mut buf = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut buf)
                .map_err(|e| self.archive_error(Some(&path), e))?;
            match retained.files.as_mut() {
                Some(files) if !kept => {
                    files.push((path.clone(), buf));
                    None
                }
                _ => kept.then_some(buf),
            }
        } else {
            None
        };
        Ok(Some(TreeEntry {
            path,
            is_dir,
            size,
            content,
            problem: None,
        }))
    }

    /// Reads the files for which `wanted` says so, in the tree's natural order (sorted
    /// for directories, stored order for archives), handing each path and its bytes to
    /// `visit`. Stops at the first error `visit` returns. An archive whose files the
    /// last scan kept (small archives) is served from memory instead of read again.
    pub fn stream(
        &self,
        wanted: impl Fn(&str) -> bool,
        mut visit: impl FnMut(&str, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        match self.kind {
            TreeKind::Dir => {
                for item in walkdir::WalkDir::new(&self.path).min_depth(1).sort_by_file_name() {
                    let item = item.map_err(|e| {
                        let p = e.path().unwrap_or(&self.path).to_path_buf();
                        IngestError::io(p, e.into())
                    })?;
                    if item.file_type().is_dir() {
                        continue;
                    }
                    let rel = relative(&self.path, item.path());
                    if wanted(&rel) {
                        visit(&rel, self.read_file(&rel)?)?;
                    }
                }
                Ok(())
            }
            TreeKind::Tar | TreeKind::TarGz => {
                let retained = self.retained.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(files) = retained {
                    for (path, bytes) in files {
                        if wanted(&path) {
                            visit(&path, bytes)?;
                        }
                    }
                    return Ok(());
                }
                let mut reader = self.archive_reader()?;
                let mut archive = tar::Archive::new(&mut reader);
                let entries = archive.entries().map_err(|e| self.archive_error(None, e))?;
                for entry in entries {
                    let mut entry = entry.map_err(|e| self.archive_error(None, e))?;
                    if !entry.header().entry_type().is_file() || member_problem(&entry).is_some() {
                        continue;
                    }
                    let Some(path) = member_path(&entry) else { continue };
                    if wanted(&path) {
                        if let Some(reason) = self.oversize(entry.size()) {
                            return Err(IngestError::bad(&self.path, Some(&path), reason));
                        }
                        let mut buf = Vec::with_capacity(entry.size() as usize);
                        entry
                            .read_to_end(&mut buf)
                            .map_err(|e| self.archive_error(Some(&path), e))?;
                        visit(&path, buf)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads one file of a directory tree by its relative path (directories only:
    /// archives are read in stored order through [`InputTree::stream`]).
    pub fn read_file(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.path.join(rel);
        let size = std::fs::metadata(&path).map_err(|e| IngestError::io(&path, e))?.len();
        if let Some(reason) = self.oversize(size) {
            return Err(IngestError::bad(&self.path, Some(rel), reason));
        }
        std::fs::read(&path).map_err(|e| IngestError::io(path, e))
    }

    fn archive_error(&self, member: Option<&str>, e: std::io::Error) -> IngestError {
        IngestError::bad(&self.path, member, format!("unreadable archive: {e}"))
    }
}

/// The decompressed byte stream of an archive, hashing the file's (compressed) bytes.
enum ArchiveStream {
    Plain(HashingReader<BufReader<File>>),
    // Multi-member gzip, as `gzip` and `pigz` may write.
    Gz(Box<MultiGzDecoder<HashingReader<BufReader<File>>>>),
}

impl Read for ArchiveStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            ArchiveStream::Plain(r) => r.read(buf),
            ArchiveStream::Gz(r) => r.read(buf),
        }
    }
}

impl ArchiveStream {
    /// Reads to the end (trailing padding included) and returns the file's SHA-256.
    fn finish(mut self) -> std::io::Result<String> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        let mut hashed = match self {
            ArchiveStream::Plain(r) => r,
            ArchiveStream::Gz(r) => r.into_inner(),
        };
        // A gzip trailer or garbage after the last member is still part of the file.
        std::io::copy(&mut hashed, &mut std::io::sink())?;
        Ok(hex::encode(hashed.hasher.finalize()))
    }
}

const NOT_UTF8: &str = "the file name is not valid UTF-8";

/// Why a tar member cannot be read as a file: its kind (links and devices hold no
/// bytes of their own) or its name.
fn member_problem<R: Read>(entry: &tar::Entry<R>) -> Option<String> {
    let kind = entry.header().entry_type();
    let what = if kind.is_hard_link() {
        Some("a hard link")
    } else if kind.is_symlink() {
        Some("a symbolic link")
    } else if kind.is_character_special() || kind.is_block_special() {
        Some("a device file")
    } else if kind.is_fifo() {
        Some("a named pipe")
    } else {
        None
    };
    if let Some(what) = what {
        return Some(format!(
            "the member is {what}, not a file: links and devices are not read"
        ));
    }
    std::str::from_utf8(&entry.path_bytes())
        .is_err()
        .then(|| NOT_UTF8.to_string())
}

fn member_path<R: Read>(entry: &tar::Entry<R>) -> Option<String> {
    let raw = entry.path().ok()?;
    let s = raw.to_string_lossy().replace('\\', "/");
    let s = s.trim_start_matches("./").trim_end_matches('/').to_string();
    (!s.is_empty() && s != ".").then_some(s)
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gzip tar with a directory, two images' worth of bytes and a text file.
    fn archive(dir: &Path) -> PathBuf {
        let path = dir.join("t.tar.gz");
        let gz = flate2::write::GzEncoder::new(File::create(&path).unwrap(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, data).unwrap();
        };
        add("ds/train/a/1.jpg", &[1u8; 700]);
        add("ds/notes.txt", b"hello");
        add("ds/train/b/2.jpg", &[2u8; 900]);
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    fn streamed(tree: &InputTree) -> Vec<(String, Vec<u8>)> {
        let mut got = Vec::new();
        tree.stream(
            |p| p.ends_with(".jpg"),
            |p, b| {
                got.push((p.to_string(), b));
                Ok(())
            },
        )
        .unwrap();
        got
    }

    #[test]
    fn a_scanned_small_archive_streams_from_memory_with_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = archive(dir.path());
        let unscanned = streamed(&InputTree::open(&path).unwrap());
        assert_eq!(unscanned.len(), 2);
        assert_eq!(unscanned[0], ("ds/train/a/1.jpg".to_string(), vec![1u8; 700]));

        let tree = InputTree::open(&path).unwrap();
        let (entries, sha) = tree.scan(|p| p.ends_with(".txt")).unwrap();
        assert!(sha.is_some());
        let notes = entries.iter().find(|e| e.path == "ds/notes.txt").unwrap();
        assert_eq!(
            notes.content.as_deref(),
            Some(&b"hello"[..]),
            "kept files are returned, not retained"
        );
        assert!(tree.retained.lock().unwrap().is_some());
        // The archive is gone: only the retained copy can answer.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(streamed(&tree), unscanned);
        assert!(
            tree.retained.lock().unwrap().is_none(),
            "the stream takes the retained files"
        );
    }

    #[test]
    fn an_archive_over_the_budget_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = archive(dir.path());
        let tree = InputTree::open(&path).unwrap();
        tree.scan_retaining(|_| false, 1000).unwrap();
        assert!(
            tree.retained.lock().unwrap().is_none(),
            "1,600 bytes of files exceed a 1,000-byte budget"
        );
        assert_eq!(streamed(&tree).len(), 2);
    }
}
