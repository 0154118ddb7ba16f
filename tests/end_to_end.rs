//! picseek's end-to-end tests: the real binary, real Chromium, real HTTP servers and the
//! real ONNX Runtime, all on 127.0.0.1. One test binary for all of them, because each
//! binary links the whole stack: eight of them cost minutes of linking and gigabytes of
//! disk (enough to fill a CI machine's).

mod support;

mod architecture;
mod clean;
mod cli;
mod clip;
mod conveniences;
mod crawl;
mod doctor;
mod download;
mod duplicates;
mod export;
mod hostile;
mod immich_models;
mod interrupt;
mod leakage;
mod model_download;
mod opt_outs;
mod own_folders;
mod pixel_retrieval;
mod provenance;
mod quality;
mod report;
mod run;
mod search_cli;
mod serve;
mod shards;
mod terminal;
mod throttle;
