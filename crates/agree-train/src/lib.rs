//! The training stage of agree: N networks per architecture that differ only by
//! seed, trained with libtorch (through `tch`) on the images of `samples.parquet`,
//! writing what every network predicted for every sample after every epoch
//! (`predictions/`), a summary per epoch (`epochs/<run_id>.parquet`) and per network
//! (`runs/<run_id>.parquet`), with checkpoints that make a rerun resume exactly.
//!
//! It knows nothing of image statistics or agreement (it decodes `samples.image`
//! with agree-schema's one decoder, under the same pixel budget as `agree stats`); it
//! only trains and records.

mod allocator;
mod checkpoint;
pub mod cli;
mod config;
mod decode;
mod device;
mod error;
mod labels;
mod loader;
mod models;
mod network;
mod optimizer;
mod pixels;
mod predictions;
mod samples;
mod schedule;
pub mod seeds;
mod study;
mod tables;
mod transform;

pub use allocator::tune_allocator_for_training;
pub use config::{Arch, Normalize, OptimizerConfig, OptimizerKind, Schedule, TrainConfig, TransformConfig};
pub use decode::RgbPixels;
pub use device::{
    DeviceChoice, Devices, cuda_library_loaded, deal_round_robin, device_name, resolve_device, torch_version,
};
pub use error::TrainError;
pub use labels::randomize_labels;
pub use loader::{Augment, InputPipeline, batch_bounds};
pub use models::{Stem, build as build_model, check_input as check_model_input, parameter_count};
pub use network::{EpochSink, NetworkJob, NetworkOptions, NetworkOutcome, StepPhases, TrainingData, train_network};
pub use optimizer::Optimizer;
pub use pixels::PixelStore;
pub use predictions::{BatchScores, PredictionColumns, Targets, score};
pub use samples::{SampleTable, Split};
pub use schedule::learning_rate;
pub use study::{NetworkSummary, RuntimeOptions, StudySummary, train_study};
pub use tables::{EpochRecord, RunRecord};
pub use transform::{Geometry, Normalization, input_geometry, normalization};
