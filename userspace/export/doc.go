// Package export writes flows out. [CSV] and [CSVFiles] produce exactly
// the bytes of NFStream's to_csv (Python float repr, backslash-escaped
// quotes, header from the first flow, flows_per_file chunks and
// rotate_files), with optional keyed BLAKE2b-512 anonymization
// ([Anonymizer]) and row formatting on worker goroutines.
//
// [Parquet] and [ParquetFiles] write the same columns and values as typed
// Parquet (INT64 counters and times, DOUBLE statistics, STRING text,
// LIST<INT64> SPLT arrays, nullable plugin columns typed from their
// values), zstd-compressed by default, in row groups of bounded size, with
// the same chunking and anonymization as CSV; Close writes the footer, so
// a run cut short still leaves a readable file.
package export
