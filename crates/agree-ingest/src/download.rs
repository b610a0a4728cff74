//! `--download`: fetching the distributed archives from their official addresses
//! and verifying each against a pinned checksum before use.
//!
//! Pinned: CIFAR-10's SHA-256 (the value the dataset's users publish for
//! `cifar-10-binary.tar.gz`), VOC's MD5 sums (the ones torchvision pins; no SHA-256
//! is published). KTH-TIPS2-b publishes no checksum: its SHA-256 is printed and
//! recorded in the manifest on first download, and `--sha256` pins it thereafter.

use std::{
    fs::File,
    io::{BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use agree_schema::AtomicPath;
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::{IngestError, Result};

/// The checksum a remote file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-256, hex.
    Sha256(&'static str),
    /// MD5, hex (where no SHA-256 is published).
    Md5(&'static str),
    /// None published: trust on first use and record the SHA-256.
    Unpublished,
}

/// One file of a dataset's official distribution.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    /// Official URL.
    pub url: &'static str,
    /// File name in the download cache.
    pub file_name: &'static str,
    /// Expected checksum.
    pub checksum: Checksum,
}

/// The official files of a dataset format (`cifar10`, `kth-tips2b`, `voc`).
pub fn remotes(format: &str) -> &'static [Remote] {
    match format {
        "cifar10" => &[Remote {
            url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            file_name: "cifar-10-binary.tar.gz",
            checksum: Checksum::Sha256("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
        }],
        "kth-tips2b" => &[Remote {
            url: "https://www.csc.kth.se/cvap/databases/kth-tips/kth-tips2-b_col_200x200.tar",
            file_name: "kth-tips2-b_col_200x200.tar",
            checksum: Checksum::Unpublished,
        }],
        "voc" => &[
            Remote {
                url: "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar",
                file_name: "VOCtrainval_06-Nov-2007.tar",
                checksum: Checksum::Md5("c52e279531787c972589f7e41ab4ae64"),
            },
            Remote {
                url: "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar",
                file_name: "VOCtest_06-Nov-2007.tar",
                checksum: Checksum::Md5("b6e924de25625d8de591ea690078ad9f"),
            },
            Remote {
                url: "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                file_name: "VOCtrainval_11-May-2012.tar",
                checksum: Checksum::Md5("6cd6e144f989b92b3379bac3b3de84fd"),
            },
        ],
        _ => &[],
    }
}

/// A downloaded, verified file.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it is.
    pub path: PathBuf,
    /// Where it came from.
    pub url: String,
    /// Its SHA-256.
    pub sha256: String,
}

fn file_digests(path: &Path) -> Result<(String, String)> {
    let mut f = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| IngestError::io(path, e))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
    }
    Ok((hex::encode(sha.finalize()), hex::encode(md5.finalize())))
}

fn verify(url: &str, checksum: Checksum, override_sha256: Option<&str>, sha: &str, md5: &str) -> Result<()> {
    let mismatch = |kind: &str, want: &str, got: &str| IngestError::Download {
        url: url.to_string(),
        reason: format!("{kind} mismatch: expected {want}, got {got}"),
    };
    if let Some(want) = override_sha256 {
        return if want.eq_ignore_ascii_case(sha) {
            Ok(())
        } else {
            Err(mismatch("SHA-256", want, sha))
        };
    }
    match checksum {
        Checksum::Sha256(want) if !want.eq_ignore_ascii_case(sha) => Err(mismatch("SHA-256", want, sha)),
        Checksum::Md5(want) if !want.eq_ignore_ascii_case(md5) => Err(mismatch("MD5", want, md5)),
        _ => Ok(()),
    }
}

/// Downloads `remote` (or `url_override`) into `cache`, unless a verified copy is
/// already there. The file appears under its final name only once verified.
pub fn fetch(
    remote: &Remote,
    cache: &Path,
    url_override: Option<&str>,
    override_sha256: Option<&str>,
    quiet: bool,
) -> Result<Fetched> {
    let url = url_override.unwrap_or(remote.url);
    let dest = cache.join(remote.file_name);
    if dest.exists() {
        let (sha, md5) = file_digests(&dest)?;
        if verify(url, remote.checksum, override_sha256, &sha, &md5).is_ok() {
            return Ok(Fetched {
                path: dest,
                url: url.to_string(),
                sha256: sha,
            });
        }
    }
    let tmp = AtomicPath::new(&dest)?;
    let response = ureq::get(url).call().map_err(|e| IngestError::Download {
        url: url.into(),
        reason: e.to_string(),
    })?;
    let total: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total.unwrap_or(0))
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("download {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut body = response.into_body().into_reader();
    let file = File::create(tmp.tmp()).map_err(|e| IngestError::io(tmp.tmp(), e))?;
    let mut out = BufWriter::new(file);
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buf).map_err(|e| IngestError::Download {
            url: url.into(),
            reason: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| IngestError::io(tmp.tmp(), e))?;
        bar.inc(n as u64);
    }
    out.flush().map_err(|e| IngestError::io(tmp.tmp(), e))?;
    drop(out);
    bar.finish_and_clear();
    let (sha, md5) = (hex::encode(sha.finalize()), hex::encode(md5.finalize()));
    verify(url, remote.checksum, override_sha256, &sha, &md5)?;
    if remote.checksum == Checksum::Unpublished && override_sha256.is_none() && !quiet {
        eprintln!("note: {url} publishes no checksum; downloaded SHA-256 is {sha} (pin it with --sha256)");
    }
    let path = tmp.commit()?;
    Ok(Fetched {
        path,
        url: url.to_string(),
        sha256: sha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_downloadable_format_has_official_files() {
        for f in ["cifar10", "kth-tips2b", "voc"] {
            assert!(!remotes(f).is_empty(), "{f}");
        }
        assert_eq!(remotes("voc").len(), 3);
        assert!(remotes("synthetic").is_empty());
    }

    #[test]
    fn verification_names_both_checksums() {
        let err = verify("u", Checksum::Sha256("aa"), None, "bb", "cc")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected aa, got bb"), "{err}");
        assert!(verify("u", Checksum::Md5("cc"), None, "bb", "cc").is_ok());
        assert!(verify("u", Checksum::Md5("cc"), Some("bb"), "bb", "xx").is_ok());
    }
}
