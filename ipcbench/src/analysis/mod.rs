//! What the results say: paired ratios between transports measured side by side, plain
//! statistics, the machine profile a run implies and the advice a run ends with. Reads results;
//! `check`, `report`, `summary` and `profile` read it.

pub(crate) mod advice;
pub(crate) mod notes;
pub(crate) mod paired;
pub(crate) mod profile;
pub(crate) mod stats;
