//! Synthetic OTLP exports (being written).
