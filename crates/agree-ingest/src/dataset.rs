//! The one ingest skeleton every format shares. A format is a [`DatasetReader`]: a
//! cheap pass that builds the [`Catalog`] from names and metadata, and a stream that
//! hands over every catalogued sample's bytes. [`ingest`] runs both and leaves the
//! writing of `samples`, `attributes`, `rejects` and the manifest to the pipeline.

use std::path::Path;

use agree_schema::ExperimentDir;

use crate::{
    Catalog, Result,
    catalog::Rejected,
    imagefolder::readable_entries,
    manifest::SourceInfo,
    pipeline::{IngestOptions, IngestSummary, Item, OnError, ingest_catalog},
    tree::{InputTree, TreeEntry},
};

/// A catalogue and the inputs it was built from (in input order).
#[derive(Debug)]
pub(crate) struct Catalogued {
    /// Which samples exist, in `sample_id` order.
    pub catalog: Catalog,
    /// The inputs, as the manifest records them.
    pub sources: Vec<SourceInfo>,
}

impl Catalogued {
    /// A format reader's findings put in `sample_id` order ([`Catalog::new`]) with
    /// the inputs they came from.
    pub(crate) fn new(parts: crate::CatalogParts, sources: Vec<SourceInfo>) -> Result<Self> {
        let catalog = Catalog::new(parts, &sources)?;
        Ok(Catalogued { catalog, sources })
    }
}

/// One dataset format.
pub(crate) trait DatasetReader: Sync {
    /// The cheap pass over names and metadata. Bad inputs are errors, or under
    /// [`OnError::Skip`] rejects kept in the catalogue.
    fn catalogue(&mut self, on_error: OnError) -> Result<Catalogued>;

    /// Hands every catalogued entry's bytes to `push`, in the source's natural order.
    /// Runs on its own thread while the pipeline validates and writes.
    fn stream(&self, catalog: &Catalog, push: &mut dyn FnMut(Item) -> Result<()>) -> Result<()>;

    /// Format settings recorded in the manifest's `options`; `None` keeps the
    /// caller's [`IngestOptions::recorded_options`].
    fn recorded_options(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Ingests the dataset `reader` reads into the experiment directory `out`.
pub(crate) fn ingest(reader: &mut dyn DatasetReader, out: &Path, opts: &IngestOptions) -> Result<IngestSummary> {
    let Catalogued { catalog, sources } = reader.catalogue(opts.on_error)?;
    let mut opts = opts.clone();
    if let Some(recorded) = reader.recorded_options() {
        opts.recorded_options = recorded;
    }
    let reader: &dyn DatasetReader = reader;
    ingest_catalog(
        &catalog,
        &sources,
        |push| reader.stream(&catalog, push),
        &ExperimentDir::new(out),
        &opts,
    )
}

/// Scans one input tree, keeping the files `keep` says: returns how the manifest
/// records the input and its readable entries, after rejecting the unreadable ones.
pub(crate) fn scan_source(
    tree: &InputTree,
    keep: impl Fn(&str) -> bool,
    rejected: &mut Vec<Rejected>,
    on_error: OnError,
) -> Result<(SourceInfo, Vec<TreeEntry>)> {
    let (entries, sha256) = tree.scan(keep)?;
    let source = SourceInfo {
        path: tree.path().display().to_string(),
        sha256,
        url: None,
    };
    let entries = readable_entries(entries, rejected, on_error, &source.path)?;
    Ok((source, entries))
}
